// The generator: committed files are what the definitions produce (--check), and the definition parser handles
// Kafka's JSON dialect and refuses what the codec does not support.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parseMessageSpec, stripJsonComments } from '../../protocol/generator/schema.ts';

const repoRoot = resolve(import.meta.dirname, '..', '..');
const generator = join(repoRoot, 'protocol', 'generator', 'generate.ts');
/** Vendored in the repository: a missing folder is a broken checkout, so these tests fail rather than skip. */
const vendoredDefs = join(repoRoot, 'protocol', 'definitions');

function run(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [generator, ...args], { encoding: 'utf8', cwd: repoRoot });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('the definitions are vendored, with the Apache Kafka license notice', () => {
  assert.ok(existsSync(vendoredDefs), `${vendoredDefs} is missing: the generator's input belongs to the repository`);
  const json = readdirSync(vendoredDefs).filter((f) => f.endsWith('.json'));
  assert.ok(json.length > 0, `no *.json in ${vendoredDefs}`);
  assert.match(readFileSync(join(vendoredDefs, 'NOTICE'), 'utf8'), /Apache Kafka[\s\S]*The Apache Software Foundation/);
  assert.match(readFileSync(join(vendoredDefs, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
  for (const f of json) {
    // Verbatim copies keep the ASF header: a file without it was edited or came from elsewhere.
    assert.match(readFileSync(join(vendoredDefs, f), 'utf8'), /^\/\/ Licensed to the Apache Software Foundation/, f);
  }
});

test('generated files are up to date (generate --check, default definitions)', (t) => {
  const r = run(['--check']);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /files up to date/);
  t.diagnostic(r.out.trim());
});

test('a missing definitions folder is an error, not a silent pass', () => {
  const missing = join(tmpdir(), `kmp-no-defs-${process.pid}`);
  const r = run(['--defs', missing, '--check']);
  assert.equal(r.status, 2, r.out);
  assert.match(r.out, /definitions folder not found/);
});

test('--check fails when a generated file is stale', () => {
  const out = mkdtempSync(join(tmpdir(), 'kmp-gen-'));
  try {
    assert.equal(run(['--defs', vendoredDefs, '--out', out]).status, 0);
    assert.equal(run(['--defs', vendoredDefs, '--out', out, '--check']).status, 0);
    writeFileSync(join(out, 'produce-request.ts'), '// edited by hand\n');
    const r = run(['--defs', vendoredDefs, '--out', out, '--check']);
    assert.equal(r.status, 1);
    assert.match(r.out, /differs: produce-request\.ts/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('comments are stripped, except inside strings', () => {
  const text = '{\n  // history\n  "about": "see http://kafka.apache.org", // trailing\n  "x": 1 /* block */\n}';
  assert.deepEqual(JSON.parse(stripJsonComments(text)), { about: 'see http://kafka.apache.org', x: 1 });
});

function spec(fields: unknown[]): string {
  return JSON.stringify({ apiKey: 99, type: 'request', name: 'TestRequest', validVersions: '0-3', flexibleVersions: '2+', fields });
}

test('the parser checks the invariants the generated code relies on', () => {
  const ok = parseMessageSpec('T.json', spec([{ name: 'A', type: 'int32', versions: '0+' }]));
  assert.equal(ok.fields[0].name, 'a');
  const bad: Array<[unknown[], RegExp]> = [
    [[{ name: 'S', type: 'Nested', versions: '0+', nullableVersions: '0+', fields: [] }], /nullable Nested/],
    [[{ name: 'A', type: 'int32', versions: '0+', tag: 0 }], /tag and taggedVersions/],
    [[{ name: 'A', type: 'int32', versions: '0+', tag: 0, taggedVersions: '2-3' }], /open-ended/],
    [[{ name: 'A', type: 'string', versions: '0+', default: 'null' }], /null cannot be the default/],
    [[{ name: 'A', type: 'Missing', versions: '0+' }], /unknown Missing/],
    [[{ name: 'A', type: 'int32', versions: '0+' }, { name: 'A', type: 'int8', versions: '0+' }], /duplicate field/],
  ];
  for (const [fields, message] of bad) assert.throws(() => parseMessageSpec('T.json', spec(fields)), message);
});
