// The complete example config of README "Securing the proxy" is valid: copied into a folder with the files it
// names (certificates made here, a credentials file from `credentialsEntryYaml`), it loads, and its TLS material
// and credentials load the way `kmp serve` loads them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, listenerNodesOf } from '../../src/config/index.ts';
import { credentialsEntryYaml, CredentialStore } from '../../src/security/credentials.ts';
import { loadServerSecureContextOptions, loadUpstreamTls } from '../../src/security/tls.ts';
import { createCa, issueCert } from '../support/tls-certs.ts';

const REPO = path.resolve(import.meta.dirname, '..', '..');

function readmeExample(): string {
  const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
  const m = /<!-- securing-the-proxy-example -->\n```yaml\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'README has the marked example block');
  return m[1];
}

test('the README example config loads, with its certificates and credentials', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmp-readme-'));
  const tlsDir = path.join(dir, 'tls');
  const ca = createCa(tlsDir, 'ca');
  const put = (name: string, from: string) => fs.copyFileSync(from, path.join(tlsDir, name));
  const server = issueCert(tlsDir, ca, 'server', { kind: 'server' });
  const client = issueCert(tlsDir, ca, 'client', { kind: 'client' });
  put('kmp-server.pem', server.certFile);
  put('kmp-server.key', server.keyFile);
  put('kmp-admin.pem', server.certFile);
  put('kmp-admin.key', server.keyFile);
  put('clients-ca.pem', ca.certFile);
  put('old-cluster-ca.pem', ca.certFile);
  put('new-cluster-ca.pem', ca.certFile);
  put('kmp-client.pem', client.certFile);
  put('kmp-client.key', client.keyFile);
  fs.mkdirSync(path.join(dir, 'secrets'));
  fs.writeFileSync(path.join(dir, 'secrets', 'viewer-token'), 'viewer-token-0123456789\n');
  fs.writeFileSync(path.join(dir, 'secrets', 'target-password'), 'target-secret\n');
  fs.writeFileSync(path.join(dir, 'sasl-users.yaml'), credentialsEntryYaml('app', 'app-password', ['SCRAM-SHA-512', 'SCRAM-SHA-256'], 4096));
  fs.writeFileSync(path.join(dir, 'kmp.yaml'), readmeExample());

  const config = loadConfig(path.join(dir, 'kmp.yaml'), { env: { KMP_TOKEN_OPS: 'ops-token-0123456789abcdef', KMP_SOURCE_PASSWORD: 'source-secret' } });
  assert.equal(config.proxy.tls?.clientAuth, 'requested');
  assert.deepEqual(config.proxy.sasl?.mechanisms, ['SCRAM-SHA-512', 'SCRAM-SHA-256', 'PLAIN']);
  assert.equal(config.proxy.listeners[0].name, 'internal');
  assert.deepEqual(listenerNodesOf(config, 'internal'), [{ nodeId: 0, host: '10.0.0.5', port: 9092 }]);
  assert.equal(config.proxy.limits.maxConnectionsPerAddress, 500);
  assert.equal(config.clusters.source.sasl?.password, 'source-secret');
  assert.equal(config.clusters.target.sasl?.password, 'target-secret');
  assert.equal(config.admin.tokens.find((t) => t.name === 'grafana')?.token, 'viewer-token-0123456789');

  // What `kmp serve` does with them at start.
  loadServerSecureContextOptions(config.proxy.tls!);
  loadServerSecureContextOptions(config.admin.tls!);
  assert.ok(loadUpstreamTls(config.clusters.target.tls!).forHost('kafka-new-1.example.com').cert);
  assert.equal(CredentialStore.load(config.proxy.sasl!.credentialsFile).size, 1);
});
