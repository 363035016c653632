// Metadata's cluster id must be the same on every node of a configured node set (a client that reconnects to
// another node must not see another cluster), and must differ between different node sets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, proxyClusterIdOf } from '../../src/config/index.ts';

const base = {
  clusters: { source: { bootstrap: ['127.0.0.1:19092'] }, target: { bootstrap: ['127.0.0.1:29092'] } },
  routes: { default: 'source', batches: {} },
  state: { file: '/tmp/kmp-cluster-id-test.json' },
};
const nodes = [{ nodeId: 0, host: 'kmp-0', port: 9092 }, { nodeId: 1, host: 'kmp-1', port: 9092 }];

test('the proxy cluster id follows the configured node set, not the node that answers', () => {
  const a = parseConfig({ ...base, proxy: { listen: '0.0.0.0:9092', advertised: 'kmp-0:9092', nodeId: 0, nodes } }, { env: {}, baseDir: '/base' });
  const b = parseConfig({ ...base, proxy: { listen: '0.0.0.0:9092', advertised: 'kmp-1:9092', nodeId: 1, nodes: [...nodes].reverse() } }, { env: {}, baseDir: '/base' });
  assert.equal(proxyClusterIdOf(a), proxyClusterIdOf(b));
  const other = parseConfig({ ...base, proxy: { listen: '0.0.0.0:9092', advertised: 'kmp-0:9092', nodeId: 0, nodes: nodes.slice(0, 1) } }, { env: {}, baseDir: '/base' });
  assert.notEqual(proxyClusterIdOf(a), proxyClusterIdOf(other));
  assert.match(proxyClusterIdOf(a), /^[A-Za-z0-9_-]{22}$/, 'a Kafka-style 16-byte base64url id');
});
