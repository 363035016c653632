import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, parseConfig, parseHostPort, proxyNodesOf } from '../../src/config/index.ts';

const REPO = path.resolve(import.meta.dirname, '../..');

/** The smallest valid document; tests spread changes over it. */
function minimal(): Record<string, unknown> {
  return {
    proxy: { listen: '0.0.0.0:9092', advertised: 'localhost:9092', nodeId: 0 },
    clusters: { source: { bootstrap: ['127.0.0.1:19092'] }, target: { bootstrap: ['127.0.0.1:29092'] } },
    state: { file: './kmp-state.json' },
  };
}

/** The problems of a document that must not validate. */
function problemsOf(raw: unknown, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    parseConfig(raw, { env, baseDir: '/base' });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.problems;
  }
  assert.fail('the config was accepted');
}

function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kmp-config-'));
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

test('every config/*.yaml in the repository loads', () => {
  const files = readdirSync(path.join(REPO, 'config')).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.includes('example.yaml'), 'the documented example exists');
  for (const file of files) {
    // The example reads its operator token from an environment variable.
    const config = loadConfig(path.join(REPO, 'config', file), { env: { KMP_TOKEN_OPS: 'ops-token-0123456789abcdef' } });
    assert.ok(config.clusters.source.bootstrap.length > 0, file);
  }
});

test('the example: defaults, secrets and paths come out resolved', () => {
  const config = loadConfig(path.join(REPO, 'config', 'example.yaml'), { env: { KMP_TOKEN_OPS: 'ops-token-0123456789abcdef' } });
  assert.equal(config.proxy.maxFrameBytes, 100 * 1024 * 1024);
  assert.equal(config.flip.timeoutMs, 10_000);
  assert.equal(config.flip.maxHeldRequests, 10_000);
  assert.equal(config.clusters.target.requestTimeoutMs, 30_000);
  assert.equal(config.routes.default, 'source');
  assert.deepEqual(config.routes.batches['wave-1'].topics, ['orders', 'payments']);
  const ops = config.admin.tokens.find((t) => t.name === 'ops');
  assert.equal(ops?.token, 'ops-token-0123456789abcdef');
  assert.equal(ops?.role, 'operator');
  assert.ok(path.isAbsolute(config.state.file), 'state.file is absolute');
  assert.equal(path.dirname(config.state.file), path.join(REPO, 'config'), 'relative to the config file');
});

test('defaults of a minimal document', () => {
  const config = parseConfig(minimal(), { env: {}, baseDir: '/base' });
  assert.deepEqual(config.admin, { listen: '127.0.0.1:9644', tokens: [] });
  assert.deepEqual(config.routes, { default: 'source', batches: {} });
  assert.equal(config.log.level, 'info');
  assert.equal(config.state.file, '/base/kmp-state.json');
  assert.deepEqual(proxyNodesOf(config), [{ nodeId: 0, host: 'localhost', port: 9092 }]);
});

test('JSON by extension and by content', () => {
  const json = JSON.stringify(minimal());
  assert.equal(loadConfig(tempFile('kmp.json', json), { env: {} }).proxy.nodeId, 0);
  assert.equal(loadConfig(tempFile('kmp.conf', json), { env: {} }).proxy.nodeId, 0);
  assert.throws(() => loadConfig(tempFile('kmp.json', '{ "proxy": '), { env: {} }), /not valid JSON/);
  assert.throws(() => loadConfig(tempFile('kmp.yaml', 'proxy: [\n'), { env: {} }), /not valid YAML/);
  assert.throws(() => loadConfig(tempFile('kmp.yaml', 'a: 1\na: 2\n'), { env: {} }), /not valid YAML/, 'duplicate keys');
  assert.throws(() => loadConfig(tempFile('kmp.yaml', ''), { env: {} }), /the config is empty/);
  assert.throws(() => loadConfig('/nonexistent/kmp.yaml', { env: {} }), /cannot read .*ENOENT/);
});

test('each bad key is reported with its path, all at once', () => {
  const raw = minimal();
  raw.proxy = { listen: 'nope', advertised: 'localhost:0', nodeId: -1, maxFrameBytes: 1.5 };
  raw.clusters = { source: { bootstrap: [] }, target: { bootstrap: ['127.0.0.1:29092', 'kafka-2'], requestTimeoutMs: '30s' } };
  raw.admin = { listen: '127.0.0.1:9644', tokens: [{ name: 'ops', role: 'root', token: 'x'.repeat(20) }] };
  raw.flip = { timeoutMs: 0 };
  raw.log = { level: 'loud' };
  delete raw.state;
  const problems = problemsOf(raw);
  const expected = [
    'proxy.listen: expected host:port',
    'proxy.advertised: expected host:port',
    'proxy.nodeId: must be >= 0',
    'proxy.maxFrameBytes: expected an integer',
    'clusters.source.bootstrap: at least one host:port',
    'clusters.target.bootstrap.1: expected host:port',
    'clusters.target.requestTimeoutMs: expected number',
    'admin.tokens.0.role: expected one of "viewer"|"operator"',
    'flip.timeoutMs: must be > 0',
    'log.level: expected one of',
    'state: required',
  ];
  for (const prefix of expected) {
    assert.ok(
      problems.some((p) => p.startsWith(prefix)),
      `missing "${prefix}…" in:\n${problems.join('\n')}`,
    );
  }
  assert.equal(problems.length, expected.length, problems.join('\n'));
});

test('the message of ConfigError lists every problem, one per line', () => {
  const raw = minimal();
  raw.clusters = { source: { bootstrap: ['a:1'] }, target: { bootstrap: ['b'] } };
  assert.throws(
    () => parseConfig(raw, { env: {}, source: 'kmp.yaml' }),
    (error: unknown) => error instanceof ConfigError && /^invalid config kmp\.yaml:\n {2}- clusters\.target\.bootstrap\.0: expected host:port/.test(error.message),
  );
});

test('unknown keys are errors, with a suggestion when one is close', () => {
  const raw = minimal();
  raw.proxy = { listen: '0.0.0.0:9092', advertised: 'localhost:9092', nodeId: 0, advertized: 'x:1' };
  raw.routes = { default: 'source', batches: { 'wave-1': { topics: ['orders'], prefixs: ['billing.'] } } };
  raw.extra = true;
  const problems = problemsOf(raw);
  assert.ok(problems.includes('proxy.advertized: unknown key (did you mean "advertised"?)'), problems.join('\n'));
  assert.ok(problems.includes('routes.batches.wave-1.prefixs: unknown key (did you mean "prefixes"?)'), problems.join('\n'));
  assert.ok(problems.includes('extra: unknown key'), problems.join('\n'));
});

test('tls and sasl blocks are strict too', () => {
  const raw = minimal();
  raw.clusters = {
    source: { bootstrap: ['a:1'], tls: { caFile: '/ca.pem', rejectUnauthorised: false } },
    target: { bootstrap: ['b:1'], sasl: { mechanism: 'scram-sha-512', username: 'kmp' } },
  };
  const problems = problemsOf(raw);
  assert.ok(problems.some((p) => p.startsWith('clusters.source.tls.rejectUnauthorised: unknown key')), problems.join('\n'));
  assert.ok(problems.some((p) => p.startsWith('clusters.target.sasl.password: required')), problems.join('\n'));
});

test('an invalid regular expression is reported at its path', () => {
  const raw = minimal();
  raw.routes = { default: 'source', batches: { 'wave-2': { patterns: ['^logs\\..*', '^(metrics'] } } };
  const problems = problemsOf(raw);
  assert.equal(problems.length, 1, problems.join('\n'));
  assert.match(problems[0], /^routes\.batches\.wave-2\.patterns\.1: pattern "\^\(metrics" is not a valid regular expression/);
});

test('routing rules are checked across batches (the routing layer\'s schema, embedded)', () => {
  const raw = minimal();
  raw.routes = { default: 'target', batches: { a: { topics: ['orders'] }, b: { topics: ['orders'], prefixes: ['bad prefix'] } } };
  const problems = problemsOf(raw);
  assert.ok(problems.some((p) => p.startsWith('routes.batches.b.topics.0: topic "orders" is listed in two batches')), problems.join('\n'));
  assert.ok(problems.some((p) => p.startsWith('routes.batches.b.prefixes.0:')), problems.join('\n'));
});

test('proxy.nodes: ids unique, this instance included', () => {
  const raw = minimal();
  raw.proxy = {
    listen: '0.0.0.0:9092',
    advertised: 'kmp-0:9092',
    nodeId: 7,
    nodes: [
      { nodeId: 0, host: 'kmp-0', port: 9092 },
      { nodeId: 0, host: 'kmp-1', port: 9092 },
    ],
  };
  const problems = problemsOf(raw);
  assert.ok(problems.includes('proxy.nodes.1.nodeId: node id 0 is listed twice'), problems.join('\n'));
  assert.ok(problems.some((p) => p.startsWith('proxy.nodeId: node id 7 is not in proxy.nodes')), problems.join('\n'));

  (raw.proxy as Record<string, unknown>).nodeId = 1;
  (raw.proxy as { nodes: { nodeId: number }[] }).nodes[1].nodeId = 1;
  const config = parseConfig(raw, { env: {} });
  assert.deepEqual(proxyNodesOf(config).map((n) => n.host), ['kmp-0', 'kmp-1']);
});

test('environment overrides: single keys, typed, with the variable named in errors', () => {
  const config = parseConfig(minimal(), {
    env: {
      KMP_PROXY__LISTEN: '0.0.0.0:19092',
      KMP_PROXY__NODE_ID: '3',
      KMP_CLUSTERS__SOURCE__BOOTSTRAP: 'a:1, b:2',
      KMP_CLUSTERS__TARGET__TLS: '{ "caFile": "/etc/ca.pem" }',
      KMP_FLIP__TIMEOUTMS: '2500',
      KMP_ROUTES__BATCHES__WAVE_1__PREFIXES: 'wave1.',
      KMP_LOG__LEVEL: 'debug',
      // Not config overrides (no `__`): the CLI's variables.
      KMP_ADMIN_URL: 'http://127.0.0.1:1',
      KMP_ADMIN_TOKEN: 'whatever',
    },
  });
  assert.equal(config.proxy.listen, '0.0.0.0:19092');
  assert.equal(config.proxy.nodeId, 3);
  assert.deepEqual(config.clusters.source.bootstrap, ['a:1', 'b:2']);
  assert.equal(config.clusters.target.tls?.caFile, '/etc/ca.pem');
  assert.equal(config.flip.timeoutMs, 2500);
  assert.deepEqual(config.routes.batches['wave_1']?.prefixes ?? config.routes.batches['wave-1']?.prefixes, ['wave1.']);
  assert.equal(config.log.level, 'debug');

  const withBatch = minimal();
  withBatch.routes = { batches: { 'wave-1': { topics: ['orders'] } } };
  const matched = parseConfig(withBatch, { env: { KMP_ROUTES__BATCHES__WAVE_1__PREFIXES: 'wave1.' } });
  assert.deepEqual(matched.routes.batches['wave-1'], { topics: ['orders'], prefixes: ['wave1.'], patterns: [] }, 'an existing batch is matched loosely');

  const problems = problemsOf(minimal(), { KMP_CLUSTERS__TARGET__BOOTSTRAP: 'a:1,bad', KMP_PROXY__LISTNE: 'x', KMP_FLIP__TIMEOUT_MS: 'soon' });
  assert.ok(problems.includes('clusters.target.bootstrap.1: expected host:port with a port in 1..65535 (from environment variable KMP_CLUSTERS__TARGET__BOOTSTRAP)'), problems.join('\n'));
  assert.ok(problems.some((p) => p.startsWith('KMP_PROXY__LISTNE: no key "listne" under proxy (did you mean listen?)')), problems.join('\n'));
  assert.ok(problems.some((p) => p.startsWith('flip.timeoutMs: expected number') && p.endsWith('(from environment variable KMP_FLIP__TIMEOUT_MS)')), problems.join('\n'));
});

test('admin tokens: inline, from the environment or a file; exactly one source; unique names', () => {
  const file = tempFile('viewer.token', 'viewer-token-0123456789\n');
  const raw = minimal();
  raw.admin = {
    tokens: [
      { name: 'ops', tokenEnv: 'OPS_TOKEN', role: 'operator' },
      { name: 'grafana', tokenFile: file, role: 'viewer' },
      { name: 'ci', token: 'ci-token-0123456789abc', role: 'operator' },
    ],
  };
  const config = parseConfig(raw, { env: { OPS_TOKEN: 'ops-token-0123456789' } });
  assert.deepEqual(config.admin.tokens, [
    { name: 'ops', role: 'operator', token: 'ops-token-0123456789' },
    { name: 'grafana', role: 'viewer', token: 'viewer-token-0123456789' },
    { name: 'ci', role: 'operator', token: 'ci-token-0123456789abc' },
  ]);

  raw.admin = {
    tokens: [
      { name: 'ops', tokenEnv: 'MISSING', role: 'operator' },
      { name: 'ops', token: 'short', role: 'viewer' },
      { name: 'both', token: 'x'.repeat(20), tokenEnv: 'X', role: 'viewer' },
      { name: 'none', role: 'viewer' },
      { name: 'file', tokenFile: '/nonexistent/token', role: 'viewer' },
    ],
  };
  const problems = problemsOf(raw);
  for (const prefix of [
    'admin.tokens.0.tokenEnv: environment variable MISSING is not set',
    'admin.tokens.1.token: must be at least 16 characters',
    'admin.tokens.2.tokenEnv: set only one of token, tokenEnv, tokenFile',
    'admin.tokens.3.token: required',
    'admin.tokens.4.tokenFile: cannot read /nonexistent/token',
  ]) {
    assert.ok(problems.some((p) => p.startsWith(prefix)), `missing "${prefix}" in:\n${problems.join('\n')}`);
  }

  raw.admin = { tokens: [{ name: 'a', token: 'x'.repeat(20), role: 'viewer' }, { name: 'a', token: 'y'.repeat(20), role: 'viewer' }] };
  assert.deepEqual(problemsOf(raw), ['admin.tokens.1.name: token name "a" is used twice']);
});

test('parseHostPort', () => {
  assert.deepEqual(parseHostPort('kafka-1.example.com:9092'), { host: 'kafka-1.example.com', port: 9092 });
  assert.deepEqual(parseHostPort('[::1]:9644'), { host: '::1', port: 9644 });
  assert.deepEqual(parseHostPort('0.0.0.0:0'), { host: '0.0.0.0', port: 0 });
  for (const bad of ['kafka', 'kafka:', ':9092', 'kafka:99999', '::1:9092', 'a b:1', 'kafka:9092/x']) {
    assert.equal(parseHostPort(bad), undefined, bad);
  }
});
