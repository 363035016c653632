// The proxy under test: `kmp serve` as its own process (test/support/proxy.ts), at log level info like a real
// deployment, plus a /proc sampler on its pid and an admin API helper.
import { startProxy, type ProxyRoutes, type RunningProxy } from '../../test/support/proxy.ts';
import { ProcSampler } from './proc.ts';

export interface BenchProxy {
  proxy: RunningProxy;
  pid: number;
  sampler: ProcSampler;
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }>;
  stop(): Promise<void>;
}

export async function startBenchProxy(routes: ProxyRoutes, extra: Record<string, unknown> = {}, env?: Record<string, string>): Promise<BenchProxy> {
  const proxy = await startProxy({ routes, extra: { log: { level: 'info' }, ...extra }, env });
  const pid = proxy.child.pid;
  if (pid === undefined) throw new Error('proxy child has no pid');
  const sampler = new ProcSampler(pid);
  return {
    proxy,
    pid,
    sampler,
    async admin(method, path, body) {
      const res = await fetch(`${proxy.adminUrl}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        json = { raw: text };
      }
      return { status: res.status, json };
    },
    async stop() {
      sampler.stop();
      await proxy.stop();
    },
  };
}

/** Sums of the proxy's Prometheus counters by metric name and one label (e.g. produce errors by error name). */
export async function scrapeCounters(adminUrl: string, metric: string, label: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`) && !line.startsWith(`${metric} `)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    const key = new RegExp(`${label}="([^"]*)"`).exec(line)?.[1] ?? '';
    out[key] = (out[key] ?? 0) + value;
  }
  return out;
}
