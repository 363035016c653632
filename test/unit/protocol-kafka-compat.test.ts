// Cross-check against Apache Kafka's own generated Java codec (kafka-clients jar): for every message and version
// the jar knows, Java parses our bytes, must consume all of them, re-serializes them to the very same bytes, and
// its JSON view of the parsed message must match our value field by field. This catches layout mistakes that a
// round trip through our own encoder and decoder cannot (both would share them).
//
// Needs `java` and the Kafka jars (`npm run kafka:install` puts them in .cache/kafka/<version>/libs; or set
// KMP_KAFKA_LIBS); skipped otherwise. Versions newer than the jar (e.g. ApiVersions v5 with 4.3.1) are skipped.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import type { MessageSchema } from '../../protocol/message-schema.ts';
import { kebabCase } from '../../protocol/generator/emit-message.ts';
import { MESSAGE_SCHEMAS } from '../../protocol/messages/index.ts';
import { sampleMessage, versionsOf, type SampleOptions, type SampleValue } from '../../protocol/sample-messages.ts';
import { uuidToKafkaString } from '../../protocol/uuid.ts';
import { Writer } from '../../protocol/writer.ts';

const repoRoot = resolve(import.meta.dirname, '..', '..');

function findKafkaLibs(): string | null {
  const candidates: string[] = [];
  if (process.env.KMP_KAFKA_LIBS) candidates.push(process.env.KMP_KAFKA_LIBS);
  const cache = join(repoRoot, '.cache', 'kafka');
  if (existsSync(cache)) for (const v of readdirSync(cache).sort().reverse()) candidates.push(join(cache, v, 'libs'));
  candidates.push('/tmp/kafka-libs');
  for (const dir of candidates) {
    if (existsSync(dir) && readdirSync(dir).some((f) => /^kafka-clients-.*\.jar$/.test(f))) return dir;
  }
  return null;
}

const JAVA_SOURCE = `
import java.io.*;
import java.lang.reflect.InvocationTargetException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import com.fasterxml.jackson.databind.JsonNode;
import org.apache.kafka.common.protocol.*;

// Input lines: "<MessageName> <version> <hex>". Output: "SKIP", "ERR <error>" or "OK <bytes left> <hex> <json>".
public class CrossCheck {
  public static void main(String[] args) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    PrintStream out = new PrintStream(new BufferedOutputStream(System.out), false, StandardCharsets.UTF_8);
    HexFormat hex = HexFormat.of();
    String line;
    while ((line = in.readLine()) != null) {
      String[] p = line.split(" ");
      try {
        Class<?> c = Class.forName("org.apache.kafka.common.message." + p[0] + "Data");
        short version = Short.parseShort(p[1]);
        Message probe = (Message) c.getConstructor().newInstance();
        if (version < probe.lowestSupportedVersion() || version > probe.highestSupportedVersion()) {
          out.println("SKIP");
          continue;
        }
        ByteBuffer buf = ByteBuffer.wrap(hex.parseHex(p.length > 2 ? p[2] : ""));
        Message m = (Message) c.getConstructor(org.apache.kafka.common.protocol.Readable.class, short.class)
            .newInstance(new ByteBufferAccessor(buf), version);
        int left = buf.remaining();
        ByteBuffer again = MessageUtil.toByteBufferAccessor(m, version).buffer();
        byte[] b = new byte[again.remaining()];
        again.get(b);
        Class<?> conv = Class.forName("org.apache.kafka.common.message." + p[0] + "DataJsonConverter");
        JsonNode json = (JsonNode) conv.getMethod("write", c, short.class, boolean.class).invoke(null, m, version, false);
        out.println("OK " + left + " " + hex.formatHex(b) + " " + json.toString());
      } catch (Throwable t) {
        Throwable cause = t instanceof InvocationTargetException && t.getCause() != null ? t.getCause() : t;
        out.println("ERR " + cause.toString().replace('\\n', ' '));
      }
    }
    out.flush();
  }
}
`;

type Encoder = (w: Writer, v: number, m: SampleValue) => void;

async function encoderOf(schema: MessageSchema): Promise<Encoder> {
  const mod = (await import(`../../protocol/messages/${kebabCase(schema.name)}.ts`)) as Record<string, unknown>;
  const fn = mod[`encode${schema.name}`];
  assert.equal(typeof fn, 'function');
  return fn as Encoder;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Integers as bigint (exact for int64), everything else as JSON.parse gives it. */
function parseJavaJson(text: string): unknown {
  const reviver = (_key: string, value: unknown, context?: { source?: string }): unknown =>
    typeof value === 'number' && context?.source !== undefined && /^-?\d+$/.test(context.source)
      ? BigInt(context.source)
      : value;
  return JSON.parse(text, reviver as (key: string, value: unknown) => unknown);
}

/**
 * Fields renamed in the definitions after the jar was built (the wire format is unchanged): jar name → ours.
 * TxnOffsetCommitRequest.GenerationId became GenerationIdOrMemberEpoch with KIP-1319 (Kafka 4.4).
 */
const RENAMED: Readonly<Record<string, string>> = { generationId: 'generationIdOrMemberEpoch' };

/** Compares Java's JSON view with our value; returns the number of leaf values compared. */
function compare(java: unknown, mine: unknown, path: string): number {
  if (java === null) {
    assert.equal(mine, null, path);
    return 1;
  }
  if (typeof java === 'bigint') {
    assert.ok(typeof mine === 'bigint' || typeof mine === 'number', `${path}: ${String(mine)}`);
    assert.equal(BigInt(mine), java, path);
    return 1;
  }
  if (typeof java === 'string') {
    if (Buffer.isBuffer(mine)) assert.equal(mine.toString('base64'), java, path);
    else if (typeof mine === 'string' && UUID.test(mine) && java.length === 22) assert.equal(uuidToKafkaString(mine), java, path);
    else assert.equal(mine, java, path);
    return 1;
  }
  if (typeof java !== 'object') {
    assert.equal(mine, java, path);
    return 1;
  }
  if (Array.isArray(java)) {
    assert.ok(Array.isArray(mine), path);
    assert.equal(mine.length, java.length, `${path}: length`);
    return java.reduce((n: number, x: unknown, i: number) => n + compare(x, mine[i], `${path}[${i}]`), 0);
  }
  assert.ok(typeof mine === 'object' && mine !== null, path);
  const ours = mine as Record<string, unknown>;
  let n = 0;
  for (const [key, value] of Object.entries(java)) {
    if (key === 'recordsSizeInBytes') {
      const records = ours['records'];
      assert.ok(Buffer.isBuffer(records), `${path}.records`);
      assert.equal(BigInt(records.length), value, `${path}.records size`);
      n++;
      continue;
    }
    const ourKey = key in ours ? key : RENAMED[key];
    assert.ok(ourKey !== undefined && ourKey in ours, `${path}.${key} missing on our side`);
    n += compare(value, ours[ourKey], `${path}.${key}`);
  }
  return n;
}

const VARIANTS: Array<[string, SampleOptions]> = [
  ['values', {}],
  ['nulls', { nulls: true }],
  ['unknown tags', { unknownTags: true }],
];

test('byte-for-byte and value agreement with the Kafka Java codec', async (t) => {
  const libs = findKafkaLibs();
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (libs === null || java.status !== 0) {
    t.skip('java or the Kafka jars are not available (npm run kafka:install, or set KMP_KAFKA_LIBS)');
    return;
  }
  const cases: Array<{ label: string; bytes: Buffer; value: SampleValue }> = [];
  const lines: string[] = [];
  for (const schema of MESSAGE_SCHEMAS) {
    const encode = await encoderOf(schema);
    for (const v of versionsOf(schema)) {
      for (const [variant, options] of VARIANTS) {
        const value = sampleMessage(schema, v, options);
        const w = new Writer();
        encode(w, v, value);
        const bytes = w.toBuffer();
        cases.push({ label: `${schema.name} v${v} (${variant})`, bytes, value });
        lines.push(`${schema.name} ${v} ${bytes.toString('hex')}`);
      }
    }
  }

  const dir = mkdtempSync(join(tmpdir(), 'kmp-kafka-compat-'));
  try {
    writeFileSync(join(dir, 'CrossCheck.java'), JAVA_SOURCE);
    const run = spawnSync('java', ['-cp', `${libs}/*`, join(dir, 'CrossCheck.java')], {
      input: `${lines.join('\n')}\n`,
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
      timeout: 120_000,
    });
    assert.equal(run.status, 0, run.stderr);
    const results = run.stdout.trimEnd().split('\n');
    assert.equal(results.length, cases.length, run.stderr);

    let checked = 0;
    let skipped = 0;
    let leaves = 0;
    for (const [i, line] of results.entries()) {
      const c = cases[i];
      if (line === 'SKIP') {
        skipped++;
        continue;
      }
      assert.ok(line.startsWith('OK '), `${c.label}: Java could not parse our bytes: ${line}`);
      const [, left, hex] = line.split(' ', 3);
      const json = line.slice(3 + left.length + 1 + hex.length + 1);
      assert.equal(left, '0', `${c.label}: Java left ${left} byte(s) unread`);
      assert.equal(hex, c.bytes.toString('hex'), `${c.label}: Java re-serializes different bytes`);
      leaves += compare(parseJavaJson(json), c.value, c.label);
      checked++;
    }
    t.diagnostic(`${libs}: ${checked} message versions agree (${leaves} field values compared), ${skipped} newer than the jar skipped`);
    assert.ok(checked > 600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
