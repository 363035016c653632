// The SASL credentials file: strict validation (every problem with its path), no plaintext passwords, lookups,
// PLAIN verification against SCRAM credentials, and the entry that `kmp sasl-credential` prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { CredentialStore, CredentialsFileError, credentialsEntryYaml } from '../../src/security/credentials.ts';
import { ScramClient, ScramServer, createScramCredential } from '../../src/security/scram.ts';
import { parseConfig } from '../../src/config/index.ts';

function entry(hash: 'sha256' | 'sha512', password: string) {
  const c = createScramCredential(hash, password, { iterations: 4096 });
  return { salt: c.salt.toString('base64'), iterations: c.iterations, storedKey: c.storedKey.toString('base64'), serverKey: c.serverKey.toString('base64') };
}

function problemsOf(document: unknown): string[] {
  try {
    CredentialStore.parse(document, 'test.yaml');
  } catch (err) {
    assert.ok(err instanceof CredentialsFileError);
    return [...err.problems];
  }
  assert.fail('expected the document to be refused');
}

test('a generated entry loads, and SCRAM and PLAIN logins work against it', async () => {
  const doc = YAML.parse(credentialsEntryYaml('alice', 'wonderland', ['SCRAM-SHA-512', 'SCRAM-SHA-256'], 4096));
  const store = CredentialStore.parse(doc);
  assert.equal(store.size, 1);
  assert.ok(store.lookup('alice', 'SCRAM-SHA-512'));
  assert.ok(store.lookup('alice', 'SCRAM-SHA-256'));
  assert.equal(store.lookup('bob', 'SCRAM-SHA-512'), undefined);
  assert.equal(await store.verifyPlain('alice', 'wonderland'), true);
  assert.equal(await store.verifyPlain('alice', 'looking-glass'), false);
  assert.equal(await store.verifyPlain('bob', 'wonderland'), false);
  // A full SCRAM-SHA-256 exchange against the stored entry.
  const client = new ScramClient({ hash: 'sha256', username: 'alice', password: 'wonderland' });
  const server = new ScramServer({ hash: 'sha256', lookup: (u) => store.lookup(u, 'SCRAM-SHA-256') });
  const final = server.evaluate(await client.final(server.evaluate(client.first()).response));
  assert.equal(final.done, true);
  client.verify(final.response);
  // The printed YAML never contains the password.
  assert.doesNotMatch(credentialsEntryYaml('alice', 'wonderland', ['SCRAM-SHA-512']), /wonderland/);
});

test('a user with only SCRAM-SHA-256 can use PLAIN too', async () => {
  const store = CredentialStore.parse({ users: { carol: { 'SCRAM-SHA-256': entry('sha256', 'pw') } } });
  assert.equal(await store.verifyPlain('carol', 'pw'), true);
});

test('plaintext passwords are refused with a pointer to the generator', () => {
  const problems = problemsOf({ users: { alice: { password: 'wonderland' } } });
  assert.ok(problems.some((p) => p.startsWith('users.alice.password: plaintext passwords are not accepted')), problems.join('\n'));
});

test('every problem is reported with its path', () => {
  const good = entry('sha512', 'x');
  const problems = problemsOf({
    users: {
      a: { 'SCRAM-SHA-512': { ...good, iterations: 1000 } },
      b: { 'SCRAM-SHA-512': { ...good, storedKey: Buffer.alloc(32).toString('base64') } },
      c: { 'SCRAM-SHA-512': { ...good, salt: 'not base64!' } },
      d: { 'SCRAM-SHA-1': good },
      e: {},
      f: { 'SCRAM-SHA-512': { ...good, extra: 1 } },
    },
    groups: {},
  });
  const joined = problems.join('\n');
  assert.match(joined, /users\.a\.SCRAM-SHA-512\.iterations: .*4096/);
  assert.match(joined, /users\.b\.SCRAM-SHA-512\.storedKey: .*64 bytes/);
  assert.match(joined, /users\.c\.SCRAM-SHA-512\.salt: .*base64/);
  assert.match(joined, /users\.d\.SCRAM-SHA-1: unknown key/);
  assert.match(joined, /users\.e: no credentials/);
  assert.match(joined, /users\.f\.SCRAM-SHA-512: .*extra/);
  assert.match(joined, /groups/);
});

test('load(): a missing or unparsable file is an error naming the file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmp-cred-'));
  assert.throws(() => CredentialStore.load(path.join(dir, 'nope.yaml')), /cannot read: ENOENT/);
  fs.writeFileSync(path.join(dir, 'bad.yaml'), 'users: [unclosed');
  assert.throws(() => CredentialStore.load(path.join(dir, 'bad.yaml')), /not valid YAML/);
  fs.writeFileSync(path.join(dir, 'ok.json'), JSON.stringify({ users: { z: { 'SCRAM-SHA-256': entry('sha256', 'p') } } }));
  assert.equal(CredentialStore.load(path.join(dir, 'ok.json')).size, 1);
});

test('config: listener TLS/SASL, limits and upstream security keys are validated strictly', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmp-cfg-'));
  fs.writeFileSync(path.join(dir, 'users.yaml'), credentialsEntryYaml('alice', 'pw', ['SCRAM-SHA-512'], 4096));
  fs.writeFileSync(path.join(dir, 'bad-users.yaml'), 'users:\n  alice:\n    password: pw\n');
  for (const f of ['cert.pem', 'key.pem', 'ca.pem']) fs.writeFileSync(path.join(dir, f), 'x');
  const base = {
    proxy: { listen: '127.0.0.1:0', advertised: '127.0.0.1:9092', nodeId: 0 },
    clusters: { source: { bootstrap: ['127.0.0.1:19092'] }, target: { bootstrap: ['127.0.0.1:29092'] } },
    state: { file: 'state.json' },
  };
  const ok = parseConfig({
    ...base,
    proxy: {
      ...base.proxy,
      listeners: [{ name: 'sasl-ssl', listen: '127.0.0.1:0', advertised: 'kmp:9094', tls: { certFile: 'cert.pem', keyFile: 'key.pem', clientCaFile: 'ca.pem', clientAuth: 'required' }, sasl: { mechanisms: ['scram-sha-512', 'PLAIN'], credentialsFile: 'users.yaml', sessionLifetimeMs: 60000 } }],
      limits: { maxConnections: 10, maxConnectionsPerAddress: 2, idleTimeoutMs: 1000, saslHandshakeTimeoutMs: 500, maxInflightRequestsPerConnection: 4 },
    },
    clusters: { ...base.clusters, target: { bootstrap: ['127.0.0.1:29094'], tls: { caFile: 'ca.pem' }, sasl: { mechanism: 'scram-sha-512', username: 'kmp', passwordEnv: 'KMP_TEST_PW' } } },
  }, { baseDir: dir, env: { KMP_TEST_PW: 'secret' } });
  const l = ok.proxy.listeners[0];
  assert.deepEqual(l.sasl?.mechanisms, ['SCRAM-SHA-512', 'PLAIN']);
  assert.equal(l.sasl?.credentialsFile, path.join(dir, 'users.yaml'));
  assert.equal(l.tls?.certFile, path.join(dir, 'cert.pem'));
  assert.equal(ok.proxy.limits.maxConnectionsPerAddress, 2);
  assert.deepEqual(ok.clusters.target.sasl, { mechanism: 'SCRAM-SHA-512', username: 'kmp', password: 'secret' });
  assert.equal(ok.clusters.target.tls?.verifyHostname, true);
  assert.equal(ok.clusters.target.tls?.caFile, path.join(dir, 'ca.pem'));
  // Defaults when nothing is configured.
  const plain = parseConfig(base, { baseDir: dir, env: {} });
  assert.deepEqual(plain.proxy.limits, { maxConnections: 10_000, maxConnectionsPerAddress: 1_000, idleTimeoutMs: 600_000, saslHandshakeTimeoutMs: 10_000, maxInflightRequestsPerConnection: 64, maxBufferedRequestBytes: 128 * 1024 * 1024, frameReadTimeoutMs: 60_000 });
  assert.deepEqual(plain.proxy.listeners, []);

  // Each case on its own: zod skips cross-field checks of an object that already has errors.
  const problems = (proxy: Record<string, unknown>, clusters: Record<string, unknown> = base.clusters): string => {
    try {
      parseConfig({ ...base, proxy: { ...base.proxy, ...proxy }, clusters }, { baseDir: dir, env: {} });
    } catch (err) {
      return ((err as Error & { problems?: string[] }).problems ?? [String(err)]).join('\n');
    }
    assert.fail('expected a config error');
  };
  const tlsProblems = problems({ tls: { certFile: 'missing.pem', keyFile: 'key.pem', clientAuth: 'required' } });
  assert.match(tlsProblems, /proxy\.tls\.certFile: cannot read .*missing\.pem: ENOENT/);
  assert.match(tlsProblems, /proxy\.tls\.clientCaFile: required when clientAuth is required/);
  assert.match(problems({ sasl: { mechanisms: ['GSSAPI'], credentialsFile: 'users.yaml' } }), /proxy\.sasl\.mechanisms\.0: expected one of "PLAIN"\|"SCRAM-SHA-256"\|"SCRAM-SHA-512"/);
  assert.match(problems({ sasl: { credentialsFile: 'bad-users.yaml' } }), /proxy\.sasl\.credentialsFile: .*users\.alice\.password: plaintext passwords are not accepted/);
  const listenerProblems = problems({ listeners: [{ name: 'default', listen: '127.0.0.1:1', advertised: 'x:1' }, { name: 'other', listen: '127.0.0.1:1', advertised: 'x:1' }] });
  assert.match(listenerProblems, /proxy\.listeners\.0\.name: listener name "default" is reserved/);
  assert.match(listenerProblems, /proxy\.listeners\.1\.listen: 127\.0\.0\.1:1 is already used/);
  assert.match(problems({ listeners: [{ name: 'Bad Name', listen: '127.0.0.1:1', advertised: 'x:1' }] }), /proxy\.listeners\.0\.name: lower-case/);
  assert.match(problems({ nodes: [{ nodeId: 0, host: 'a', port: 1 }], listeners: [{ name: 'tls', listen: '127.0.0.1:2', advertised: 'x:2' }] }), /proxy\.nodes\.0\.listeners\.tls: required/);
  assert.match(problems({ limits: { maxConections: 1 } }), /proxy\.limits\.maxConections: unknown key \(did you mean "maxConnections"\?\)/);
  const upstream = problems({}, { ...base.clusters, target: { bootstrap: ['127.0.0.1:29094'], sasl: { mechanism: 'oauthbearer', username: 'kmp' } } });
  assert.match(upstream, /clusters\.target\.sasl\.mechanism: expected one of/);
  assert.match(problems({}, { ...base.clusters, target: { bootstrap: ['127.0.0.1:29094'], sasl: { mechanism: 'plain', username: 'kmp' } } }), /clusters\.target\.sasl\.password: required/);
  assert.match(problems({}, { ...base.clusters, target: { bootstrap: ['127.0.0.1:29094'], tls: { certFile: 'cert.pem' } } }), /clusters\.target\.tls\.keyFile: a client certificate needs its key/);
});
