// The config's two steps: the schema is pure (it reads no file and no variable, and leaves references), and the
// load step reads what the config references afterwards, reporting at the exact config path.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, createConfigSchema, parseConfig } from '../../src/config/index.ts';
import { FileReference, SecretReference } from '../../src/config/references.ts';

function minimal(): Record<string, unknown> {
  return {
    proxy: { listen: '0.0.0.0:9092', advertised: 'localhost:9092', nodeId: 0 },
    clusters: { source: { bootstrap: ['127.0.0.1:19092'] }, target: { bootstrap: ['127.0.0.1:29092'] } },
    state: { file: './kmp-state.json' },
  };
}

function problemsOf(raw: unknown, env: NodeJS.ProcessEnv = {}, baseDir = '/base'): readonly string[] {
  try {
    parseConfig(raw, { env, baseDir });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.problems;
  }
  assert.fail('the config was accepted');
}

test('the schema alone reads nothing: secrets and files stay references', () => {
  const raw = minimal();
  raw.admin = { tokens: [{ name: 'ops', tokenEnv: 'KMP_TEST_UNSET_VARIABLE', role: 'operator' }, { name: 'ci', tokenFile: 'no/such/file', role: 'viewer' }] };
  (raw.proxy as Record<string, unknown>).tls = { certFile: 'missing-cert.pem', keyFile: 'missing-key.pem' };
  (raw.proxy as Record<string, unknown>).sasl = { credentialsFile: 'missing-users.yaml' };
  const parsed = createConfigSchema({ baseDir: '/base' }).safeParse(raw);
  assert.ok(parsed.success, parsed.success ? '' : JSON.stringify(parsed.error.issues));
  const [ops, ci] = parsed.data.admin.tokens;
  assert.ok(ops.token instanceof SecretReference);
  assert.deepEqual(ops.token.source, { from: 'env', variable: 'KMP_TEST_UNSET_VARIABLE' });
  assert.equal(ops.token.key, 'tokenEnv');
  assert.ok(ci.token instanceof SecretReference);
  assert.deepEqual(ci.token.source, { from: 'file', file: 'no/such/file', path: '/base/no/such/file' });
  assert.ok(parsed.data.proxy.tls?.certFile instanceof FileReference);
  assert.equal(parsed.data.proxy.tls.certFile.path, '/base/missing-cert.pem');
  assert.equal(parsed.data.proxy.sasl?.credentialsFile.expect, 'credentials');
});

test('the loaded config holds strings where the schema left references', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kmp-config-load-'));
  writeFileSync(path.join(dir, 'ci.token'), 'ci-token-0123456789abc\r\n\n');
  writeFileSync(path.join(dir, 'cert.pem'), 'not parsed here');
  writeFileSync(path.join(dir, 'key.pem'), 'not parsed here');
  const raw = minimal();
  raw.admin = { tokens: [{ name: 'ci', tokenFile: 'ci.token', role: 'viewer' }], tls: { certFile: 'cert.pem', keyFile: 'key.pem', keyPassphraseEnv: 'KEY_PW' } };
  raw.clusters = { source: { bootstrap: ['a:1'], sasl: { mechanism: 'plain', username: 'kmp', passwordEnv: 'SRC_PW' } }, target: { bootstrap: ['b:1'] } };
  const config = parseConfig(raw, { env: { KEY_PW: 'key-secret', SRC_PW: 'src-secret' }, baseDir: dir });
  assert.deepEqual(config.admin.tokens, [{ name: 'ci', role: 'viewer', token: 'ci-token-0123456789abc' }], 'trailing newlines are not part of a secret');
  assert.equal(config.admin.tls?.certFile, path.join(dir, 'cert.pem'));
  assert.equal(config.admin.tls?.keyPassphrase, 'key-secret');
  assert.equal(config.admin.tls?.clientCaFile, undefined);
  assert.deepEqual(config.clusters.source.sasl, { mechanism: 'PLAIN', username: 'kmp', password: 'src-secret' });
  assert.equal(config.clusters.source.tls, undefined);
});

test('load problems come with schema problems of other parts, at the exact key', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kmp-config-load-'));
  writeFileSync(path.join(dir, 'empty.token'), '\n');
  const raw = minimal();
  (raw.proxy as Record<string, unknown>).nodeId = -1;
  raw.admin = { tokens: [{ name: 'ops', tokenEnv: 'OPS', role: 'operator' }, { name: 'empty', tokenFile: 'empty.token', role: 'viewer' }] };
  raw.clusters = { source: { bootstrap: ['a:1'], sasl: { mechanism: 'plain', passwordFile: 'nope' } }, target: { bootstrap: ['b:1'] } };
  const problems = problemsOf(raw, { OPS: '' }, dir);
  assert.deepEqual([...problems].sort(), [
    'admin.tokens.0.tokenEnv: environment variable OPS is not set',
    'admin.tokens.1.tokenFile: file empty.token is empty',
    'clusters.source.sasl.passwordFile: cannot read nope: ENOENT',
    'clusters.source.sasl.username: required for mechanism PLAIN',
    'proxy.nodeId: must be >= 0',
  ]);
});

test('a load problem of a value set from the environment names the variable', () => {
  const problems = problemsOf(minimal(), { KMP_ADMIN__TOKENS: '[{ "name": "a", "tokenFile": "/nonexistent/a.token", "role": "viewer" }]' });
  assert.deepEqual(problems, ['admin.tokens.0.tokenFile: cannot read /nonexistent/a.token: ENOENT (from environment variable KMP_ADMIN__TOKENS)']);
});

test('one token value under two names is refused, whatever the sources', () => {
  const raw = minimal();
  const value = 'shared-token-0123456789';
  raw.admin = { tokens: [{ name: 'a', token: value, role: 'viewer' }, { name: 'b', tokenEnv: 'B_TOKEN', role: 'operator' }] };
  assert.deepEqual(problemsOf(raw, { B_TOKEN: value }), ['admin.tokens.1: the same token value is configured twice']);
  assert.equal(parseConfig(raw, { env: { B_TOKEN: `${value}-other` }, baseDir: '/base' }).admin.tokens[1].token, `${value}-other`);
});
