// protocol/kafka-errors.ts is the one place a Kafka error number is written; everywhere else names it
// (ErrorCode.NOT_LEADER_OR_FOLLOWER), so a reader never has to know that 6 means "the leader moved".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kafkaErrors } from '../../protocol/kafka-errors.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCANNED = ['src', 'routing', 'protocol'];
// Generated from Kafka's message JSON (error fields there are declared, never given values), and the table itself.
const EXCLUDED = [join('protocol', 'messages'), join('protocol', 'kafka-errors.ts')];
// Identifiers that end in "code" but hold no Kafka error.
const NOT_ERROR_CODES = new Set(['exitCode', 'unsupportedCodec']);

const KAFKA_NAMES = new Set(kafkaErrors.map((e) => e.name));
const NUMBER = String.raw`-?\d+`;
// `errorCode: 6`, `readonly errorCode: 6`, `lastUnknownCode = 0`, `res.errorCode !== 0`, `code === 3`, `?? 0`.
const CODE_WITH_NUMBER = new RegExp(String.raw`\b(\w*(?:[cC]ode|[eE]rror)\w*)\s*(?::(?:\s*number\s*=)?|=|[!=]==?|\?\?)\s*${NUMBER}`, 'g');
// `UNKNOWN_TOPIC_OR_PARTITION = 3`, `ILLEGAL_SASL_STATE: 34`: a private copy of the table.
const KAFKA_NAME_WITH_NUMBER = new RegExp(String.raw`\b([A-Z][A-Z0-9_]+)\s*[:=]\s*${NUMBER}`, 'g');
// `[2, 3, 5, 6].includes(code)`: a list of error numbers.
const NUMBER_LIST_TEST = new RegExp(String.raw`\[\s*${NUMBER}(?:\s*,\s*${NUMBER})+\s*\]\s*\.includes\(\s*[\w.?]*(?:[cC]ode|[eE]rror)`);

/** The error-number literals on one line of TypeScript, ignoring comments. */
function errorLiteralsIn(line: string): string[] {
  const trimmed = line.trim();
  if (trimmed.startsWith('*') || trimmed.startsWith('/*')) return [];
  const code = line.replace(/\/\/.*$/, '');
  const found: string[] = [];
  for (const m of code.matchAll(CODE_WITH_NUMBER)) if (!NOT_ERROR_CODES.has(m[1]!)) found.push(m[0]);
  for (const m of code.matchAll(KAFKA_NAME_WITH_NUMBER)) if (KAFKA_NAMES.has(m[1]!)) found.push(m[0]);
  const list = NUMBER_LIST_TEST.exec(code);
  if (list) found.push(list[0]);
  return found;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (EXCLUDED.some((x) => relative(ROOT, path) === x)) return [];
    if (entry.isDirectory()) return tsFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

test('the detector flags the literals this codebase used to have and passes their named forms', () => {
  const bad = [
    "  return Object.freeze({ reject: 'NOT_LEADER_OR_FOLLOWER', errorCode: 6, reason });",
    '  readonly errorCode: 6;',
    'const UNKNOWN_TOPIC_OR_PARTITION = 3;',
    '  ILLEGAL_SASL_STATE: 34,',
    '    if (res.errorCode !== 0) throw new Error();',
    '  lastUnknownCode = 0;',
    '  lastUnknownCode: number = 0;',
    '      const code = e.result?.errorCode ?? 0;',
    '  return [2, 3, 5, 6, 7, 13].includes(code);',
    '  if (code === -1) return;',
  ];
  for (const line of bad) assert.notDeepEqual(errorLiteralsIn(line), [], line);
  const good = [
    "  return Object.freeze({ reject: 'NOT_LEADER_OR_FOLLOWER', errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, reason });",
    '  readonly errorCode: typeof ErrorCode.NOT_LEADER_OR_FOLLOWER;',
    '    if (res.errorCode !== ErrorCode.NONE) throw new Error();',
    '    process.exitCode = 1;',
    '// error code 6 is NOT_LEADER_OR_FOLLOWER',
    '   * (58 = SASL_AUTHENTICATION_FAILED)',
    '  const METADATA_VERSION_MAX = 12;',
    '  x.errorCode = pr.errorCode; // errorCode: 6 in a comment',
  ];
  for (const line of good) assert.deepEqual(errorLiteralsIn(line), [], line);
});

test('no Kafka error number is written in src/, routing/ or protocol/ outside the error table', () => {
  const files = SCANNED.flatMap((dir) => tsFiles(join(ROOT, dir)));
  assert.ok(files.length > 50, `scanned only ${files.length} files`);
  const offences: string[] = [];
  for (const file of files) {
    readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      for (const hit of errorLiteralsIn(line)) offences.push(`${relative(ROOT, file)}:${i + 1}: ${hit.trim()}`);
    });
  }
  assert.deepEqual(offences, [], 'use ErrorCode.<NAME> from protocol/kafka-errors.ts instead');
});
