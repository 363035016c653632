// The gates' pure parts: the schemaRegistry config keys and the canonical schema comparison.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../src/config/index.ts';
import { canonicalSchema } from '../../src/gates/schema-gate.ts';

function withRegistry(registry: unknown): Record<string, unknown> {
  return {
    proxy: { listen: '0.0.0.0:9092', advertised: 'localhost:9092', nodeId: 0 },
    clusters: { source: { bootstrap: ['127.0.0.1:19092'], schemaRegistry: registry }, target: { bootstrap: ['127.0.0.1:29092'] } },
    state: { file: './kmp-state.json' },
  };
}

test('schemaRegistry: url without trailing slash, basic auth from an env variable, bearer token, default timeout', () => {
  const basic = parseConfig(withRegistry({ url: 'http://reg:8080/apis/ccompat/v7/', username: 'u', passwordEnv: 'REG_PW' }), { env: { REG_PW: 's3cret' }, baseDir: '/base' });
  assert.deepEqual(basic.clusters.source.schemaRegistry, { url: 'http://reg:8080/apis/ccompat/v7', timeoutMs: 10_000, username: 'u', password: 's3cret' });
  const bearer = parseConfig(withRegistry({ url: 'https://reg', token: 't0k', timeoutMs: 500 }), { env: {}, baseDir: '/base' });
  assert.deepEqual(bearer.clusters.source.schemaRegistry, { url: 'https://reg', timeoutMs: 500, bearerToken: 't0k' });
  assert.equal(bearer.clusters.target.schemaRegistry, undefined);
});

test('schemaRegistry: bad input gets a clear error', () => {
  const problems = (raw: unknown): string => {
    try {
      parseConfig(withRegistry(raw), { env: {}, baseDir: '/base' });
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.problems.join('\n');
    }
    return assert.fail('accepted');
  };
  assert.match(problems({ url: 'ftp://reg' }), /schemaRegistry\.url.*http\(s\) URL/);
  assert.match(problems({ url: 'http://reg', username: 'u' }), /schemaRegistry\.password.*required/);
  assert.match(problems({ url: 'http://reg', passwrd: 'x' }), /schemaRegistry.*passwrd/);
});

test('canonicalSchema ignores formatting and key order, not content', () => {
  const a = canonicalSchema({ schema: '{"type":"record","name":"A","fields":[{"name":"x","type":"int"}]}', schemaType: 'AVRO', references: [] });
  const b = canonicalSchema({ schema: '{ "name": "A",\n "fields": [ {"type": "int", "name": "x"} ], "type": "record" }', schemaType: 'AVRO', references: [] });
  const c = canonicalSchema({ schema: '{"type":"record","name":"A","fields":[{"name":"y","type":"int"}]}', schemaType: 'AVRO', references: [] });
  const reordered = canonicalSchema({ schema: '{"type":"record","name":"A","fields":[{"name":"y","type":"int"},{"name":"x","type":"int"}]}', schemaType: 'AVRO', references: [] });
  const swapped = canonicalSchema({ schema: '{"type":"record","name":"A","fields":[{"name":"x","type":"int"},{"name":"y","type":"int"}]}', schemaType: 'AVRO', references: [] });
  assert.equal(a, b);
  assert.notEqual(a, c);
  assert.notEqual(reordered, swapped, 'field order is part of an Avro schema');
  const p1 = canonicalSchema({ schema: 'syntax = "proto3";\n// a comment\nmessage M {\n  int32 x = 1;\n}\n', schemaType: 'PROTOBUF', references: [] });
  const p2 = canonicalSchema({ schema: 'syntax="proto3"; message M { int32 x = 1; }', schemaType: 'PROTOBUF', references: [] });
  assert.equal(p1, p2);
});
