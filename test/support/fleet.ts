// Shared harness for fleet integration tests: real kmp processes with a `fleet:` block, their /v1/fleet views,
// admin calls, and the exactly-once check over both clusters read directly.
import assert from 'node:assert/strict';
import { readTopic, type ConsumedRecord } from './kafka.ts';
import { startProxy, type RunningProxy } from './proxy.ts';
import { sleep, type StreamingProducer } from './streaming-producers.ts';

export interface FleetView {
  member: string;
  clusterId: string;
  fenced: boolean;
  live: string[];
  members: { member: string; live: boolean; appliedVersion: number; nodeId: number; leaseAgeMs: number; inflight: number; connections: number; partitionsLed: number; fenced: boolean }[];
}

export interface FleetMemberOptions {
  nodeId: number;
  topics: readonly string[];
  prefix: string;
  leaseMs: number;
  /** The control cluster: 'source' (default), 'target', or its own { bootstrap }. */
  control?: unknown;
  flipTimeoutMs?: number;
  /** Extra top-level config merged over the defaults (e.g. clusters, transactions). */
  extra?: Record<string, unknown>;
  routes?: Record<string, unknown>;
  env?: Record<string, string>;
  /** Reuse an instance's ports and state dir (a restart: clients keep its address). */
  port?: number;
  adminPort?: number;
  stateDir?: string;
}

export function startFleetMember(o: FleetMemberOptions): Promise<RunningProxy> {
  return startProxy({
    routes: o.routes ?? { default: 'source', batches: { 'wave-1': { topics: [...o.topics] } } },
    env: { KMP_PROXY__NODE_ID: String(o.nodeId), ...(o.env ?? {}) },
    ...(o.port === undefined ? {} : { port: o.port }),
    ...(o.adminPort === undefined ? {} : { adminPort: o.adminPort }),
    ...(o.stateDir === undefined ? {} : { stateDir: o.stateDir }),
    extra: {
      fleet: { control: o.control ?? 'source', topicPrefix: o.prefix, replicationFactor: 1, leaseMs: o.leaseMs, heartbeatMs: 300, skewMarginMs: 300 },
      flip: { timeoutMs: o.flipTimeoutMs ?? 8_000 },
      log: { level: 'info' },
      ...(o.extra ?? {}),
    },
  });
}

export async function admin<T = Record<string, unknown>>(p: RunningProxy, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(`${p.adminUrl}${path}`, {
    method,
    headers: method === 'POST' ? { 'content-type': 'application/json' } : {},
    body: method === 'POST' ? JSON.stringify(body ?? {}) : undefined,
  });
  return { status: res.status, json: (await res.json()) as T };
}

export async function fleetView(p: RunningProxy): Promise<FleetView> {
  return (await admin<FleetView>(p, 'GET', '/v1/fleet')).json;
}

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export async function readBothClusters(topics: readonly string[]): Promise<ConsumedRecord[]> {
  const out: ConsumedRecord[] = [];
  for (const c of ['source', 'target'] as const) for (const t of topics) out.push(...(await readTopic(c, t, 60_000)));
  return out;
}

/** Every acknowledged value (prefixed `client-`) exactly once over the records given; no value twice. */
export function checkExactlyOnce(producer: StreamingProducer, records: readonly ConsumedRecord[], client: string): void {
  const seen = new Map<string, number>();
  for (const r of records) if (r.value?.startsWith(`${client}-`)) seen.set(r.value, (seen.get(r.value) ?? 0) + 1);
  const lost = [...producer.acked.keys()].filter((v) => !seen.has(v));
  const duplicated = [...seen].filter(([, n]) => n > 1).map(([v]) => v);
  assert.deepEqual(lost, [], `acknowledged but not on either cluster: ${lost.length}`);
  assert.deepEqual(duplicated, [], `written more than once: ${duplicated.length}`);
}
