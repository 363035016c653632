import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { CACHE_DIR, CLUSTERS, renderConfig, sourcePipeListener } from '../../scripts/kafka/testbed.ts';

/** key=value lines of a rendered server config. */
function props(text: string): Map<string, string> {
  return new Map(text.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

function listenerNames(value: string): string[] {
  return value.split(',').map((l) => l.slice(0, l.indexOf('://')));
}

test('every listener of both clusters is advertised only if it listens, and has a security protocol', () => {
  for (const spec of Object.values(CLUSTERS)) {
    const p = props(renderConfig(spec));
    const listening = listenerNames(p.get('listeners') ?? '');
    const advertised = listenerNames(p.get('advertised.listeners') ?? '');
    const mapped = (p.get('listener.security.protocol.map') ?? '').split(',').map((e) => e.split(':')[0]);
    for (const name of advertised) assert.ok(listening.includes(name), `${spec.name}: ${name} is advertised but not in listeners`);
    for (const name of listening) assert.ok(mapped.includes(name), `${spec.name}: ${name} has no entry in listener.security.protocol.map`);
  }
});

test("the source's PIPE listener binds one port and advertises the bench relay's port, as plaintext", () => {
  const pipe = sourcePipeListener();
  assert.notEqual(pipe.brokerPort, pipe.relayPort, 'the relay cannot listen where the broker does');
  const p = props(renderConfig(CLUSTERS.source));
  assert.ok(p.get('listeners')?.split(',').includes(`PIPE://${pipe.host}:${pipe.brokerPort}`), p.get('listeners'));
  assert.ok(p.get('advertised.listeners')?.split(',').includes(`PIPE://${pipe.host}:${pipe.relayPort}`), p.get('advertised.listeners'));
  assert.ok(p.get('listener.security.protocol.map')?.split(',').includes('PIPE:PLAINTEXT'));
  assert.equal(p.get('inter.broker.listener.name'), 'PLAINTEXT', 'brokers must not talk to each other through the relay');
  assert.doesNotMatch(renderConfig(CLUSTERS.target), /PIPE/, 'only the source has the pipe listener');
});

test('the rendered config names the cache by its real path, so worktrees sharing it render the same file', () => {
  if (fs.existsSync(CACHE_DIR)) assert.equal(fs.realpathSync(CACHE_DIR), CACHE_DIR);
  const logDirs = props(renderConfig(CLUSTERS.source)).get('log.dirs') ?? '';
  assert.ok(logDirs.startsWith(CACHE_DIR), logDirs);
});
