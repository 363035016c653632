// The deployment examples are configs kmp accepts: the image's default config (deploy/kmp.yaml, Dockerfile's
// /etc/kmp.yaml) with the environment of each instance in deploy/docker-compose.fleet.yml parses into three
// distinct fleet members of one fleet. Docker cannot run here, so this is what keeps the examples honest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { loadConfig } from '../../src/config/index.ts';

const DEPLOY = path.resolve(import.meta.dirname, '..', '..', 'deploy');

/** Each compose service's environment, with `${VAR:?…}` filled in as `docker compose` would. */
function composeEnvironments(vars: Record<string, string>): Map<string, Record<string, string>> {
  const doc = YAML.parse(fs.readFileSync(path.join(DEPLOY, 'docker-compose.fleet.yml'), 'utf8'), { merge: true }) as { services: Record<string, { environment: Record<string, string> }> };
  const out = new Map<string, Record<string, string>>();
  for (const [name, service] of Object.entries(doc.services)) {
    const env = Object.fromEntries(Object.entries(service.environment).map(([k, v]) => [k, String(v).replace(/\$\{(\w+)(:\?[^}]*)?\}/g, (_, n: string) => {
      const value = vars[n];
      if (value === undefined) throw new Error(`${name}: ${n} is required`);
      return value;
    })]));
    out.set(name, env);
  }
  return out;
}

test('the image config with each compose instance environment: three members of one fleet', () => {
  const envs = composeEnvironments({ SOURCE_BOOTSTRAP: 'src-1:9092,src-2:9092', TARGET_BOOTSTRAP: 'tgt-1:9092' });
  assert.deepEqual([...envs.keys()], ['kmp-0', 'kmp-1', 'kmp-2']);
  const configs = [...envs.values()].map((env) => loadConfig(path.join(DEPLOY, 'kmp.yaml'), { env }));
  assert.deepEqual(configs.map((c) => c.proxy.nodeId), [0, 1, 2]);
  assert.deepEqual(configs.map((c) => c.fleet?.instanceId), ['kmp-0', 'kmp-1', 'kmp-2']);
  assert.deepEqual(configs.map((c) => c.proxy.advertised), ['kmp-0:9092', 'kmp-1:9092', 'kmp-2:9092']);
  for (const c of configs) {
    assert.equal(c.fleet?.control, 'source');
    assert.equal(c.fleet?.topicPrefix, '_kmp');
    assert.deepEqual(c.clusters.source.bootstrap, ['src-1:9092', 'src-2:9092']);
    assert.equal(c.state.file, '/var/lib/kmp/kmp-state.json');
  }
});

test('the image config alone is not enough: it names the keys the environment must give', () => {
  assert.throws(() => loadConfig(path.join(DEPLOY, 'kmp.yaml'), { env: {} }), (error: Error) => /proxy/.test(error.message) && /clusters/.test(error.message));
});

test('a third control cluster from one variable', () => {
  const env = { ...composeEnvironments({ SOURCE_BOOTSTRAP: 's:9092', TARGET_BOOTSTRAP: 't:9092' }).get('kmp-0')!, KMP_FLEET__CONTROL: '{ bootstrap: [ctl-1:9092, ctl-2:9092, ctl-3:9092] }' };
  const c = loadConfig(path.join(DEPLOY, 'kmp.yaml'), { env });
  assert.deepEqual(typeof c.fleet?.control === 'object' ? c.fleet.control.bootstrap : null, ['ctl-1:9092', 'ctl-2:9092', 'ctl-3:9092']);
});
