// Scenario `connections`: many idle client connections (each completed an ApiVersions + Metadata exchange, as every
// real client does first) next to a few active producers. Reported: the proxy's RSS before, with all connections
// open, and after closing them, hence memory per connection; the handshake latency; and whether the active
// producers' latency changes with the idle crowd.
import { up } from '../../scripts/kafka/testbed.ts';
import { listOption, parseOptions } from '../lib/args.ts';
import { scrapeCounters, startBenchProxy } from '../lib/bench-proxy.ts';
import { watchBrokers } from '../lib/broker-watch.ts';
import { collectEnvironment, environmentLine } from '../lib/environment.ts';
import { memoryOf } from '../lib/proc.ts';
import { log, progress, sleep } from '../lib/progress.ts';
import { table, writeResults } from '../lib/report.ts';
import { fmt, round, summarize, type LatencySummary } from '../lib/stats.ts';
import { COLORS, renderChart } from '../lib/svg-chart.ts';
import { benchTopic, createTopics, deleteTopics } from '../lib/topics.ts';
import { startKafkajsLoad, type RunningLoad } from '../clients/kafkajs-load.ts';
import type { LoadResult } from '../clients/load-types.ts';
import { openIdleConnection, type IdleConnection } from '../clients/raw-kafka.ts';
import { startRdkafkaLoad } from '../clients/rdkafka-load.ts';
import type { Scenario } from './scenario.ts';

const options = {
  connections: { default: 1000, help: 'idle connections to open' },
  parallel: { default: 50, help: 'handshakes in flight while opening' },
  clients: { default: 2, help: 'active producers (kafkajs and librdkafka alternately) writing throughout' },
  rate: { default: 500, help: 'records/s of all active producers together' },
  size: { default: 1024, help: 'record value size in bytes' },
  settle: { default: 3, help: 'seconds of load before measuring the baseline, and between phases' },
  hold: { default: 5, help: 'seconds to keep all connections open (idle) before closing them' },
  only: { default: 'kafkajs,rdkafka', help: 'active producer kinds to alternate between' },
  'keep-topics': { default: false, help: 'keep the bench topic instead of deleting it afterwards' },
} as const;

const KINDS = ['kafkajs', 'rdkafka'] as const;

interface Phase {
  name: 'baseline' | 'opening' | 'idle crowd' | 'closed';
  start: number;
  end: number;
}

async function run(argv: readonly string[]): Promise<void> {
  const opts = parseOptions(options, argv);
  const kinds = listOption('only', opts.only, KINDS);
  const startedAt = new Date();
  log('connections: starting the Kafka pair (if needed) and the proxy');
  await up();
  const brokers = watchBrokers();
  const environment = await collectEnvironment();
  const topic = benchTopic('conn');
  await createTopics(['source'], [topic], 6);
  // The proxy limits connections per remote address (default 1000), and every connection here comes from
  // 127.0.0.1: raise the limits above what this run opens, through the config's environment overrides. A proxy
  // build without these keys rejects them as unknown; then run with its defaults and say so.
  const needed = opts.connections + opts.clients * 4 + 100;
  const limitEnv = {
    KMP_PROXY__LIMITS__MAX_CONNECTIONS_PER_ADDRESS: String(needed),
    KMP_PROXY__LIMITS__MAX_CONNECTIONS: String(Math.max(10_000, needed)),
  };
  let limitsRaised = true;
  const bp = await startBenchProxy({ default: 'source', batches: {} }, {}, limitEnv).catch(async (err: unknown) => {
    log(`proxy did not start with raised connection limits (${String(err).split('\n')[0]}); using its defaults`);
    limitsRaised = false;
    return startBenchProxy({ default: 'source', batches: {} });
  });
  const [host, portText] = bp.proxy.bootstrap.split(':');
  const port = Number(portText);
  const origin = performance.now();
  const elapsed = (): number => (performance.now() - origin) / 1000;
  const rssTrace: [number, number][] = [];
  const connTrace: [number, number][] = [];
  const phases: Phase[] = [];
  const open: IdleConnection[] = [];
  const handshakeMs: number[] = [];
  let failures = 0;
  const failureSamples = new Set<string>();
  let stopLoad = false;
  const loads: { kind: string; load: RunningLoad }[] = [];
  let results: LoadResult[] = [];
  const rss = { baseline: Number.NaN, withConnections: Number.NaN, afterHold: Number.NaN, afterClose: Number.NaN, hwm: Number.NaN };
  let proxyReportedConnections: number | null = null;
  /** Connections the proxy refused or closed, by reason (kmp_refused_connections_total). */
  let refused: Record<string, number> = {};

  const sample = (): number => {
    const v = bp.sampler.rssMiB;
    rssTrace.push([round(elapsed(), 2), round(v, 1)]);
    connTrace.push([round(elapsed(), 2), open.length]);
    return v;
  };
  /** Mean of RSS samples over `seconds` (RSS wobbles with GC; one sample is not a measurement). */
  const rssOver = async (seconds: number): Promise<number> => {
    const values: number[] = [];
    const until = performance.now() + seconds * 1000;
    while (performance.now() < until) {
      values.push(sample());
      await sleep(200);
    }
    return values.reduce((a, b) => a + b, 0) / values.length;
  };
  const status = async (): Promise<number | null> => {
    const res = await bp.admin('GET', '/v1/status');
    return typeof res.json.connections === 'number' ? res.json.connections : null;
  };

  const stopProgress = progress('connections', () => `${open.length} idle connections open, ${failures} failed, proxy RSS ${fmt(bp.sampler.rssMiB, 0)} MiB`);
  try {
    for (let i = 0; i < opts.clients; i++) {
      const kind = kinds[i % kinds.length];
      const common = { bootstrap: bp.proxy.bootstrap, topics: [topic], size: opts.size, origin, mode: { kind: 'paced' as const, rate: opts.rate / opts.clients, seconds: 3600, stop: () => stopLoad } };
      loads.push({ kind, load: kind === 'kafkajs' ? startKafkajsLoad(common) : startRdkafkaLoad(common) });
    }
    await sleep(opts.settle * 1000);
    let t = elapsed();
    rss.baseline = await rssOver(2);
    phases.push({ name: 'baseline', start: t, end: elapsed() });
    log(`baseline: proxy RSS ${fmt(rss.baseline, 1)} MiB with ${opts.clients} active producer(s)`);

    t = elapsed();
    let next = 0;
    const sampler = setInterval(sample, 250);
    await Promise.all(Array.from({ length: Math.max(1, opts.parallel) }, async () => {
      while (next < opts.connections) {
        const i = next++;
        try {
          const c = await openIdleConnection(host, port, [topic], `kmp-bench-idle-${i}`);
          open.push(c);
          handshakeMs.push(c.handshakeMs);
        } catch (err) {
          failures++;
          if (failureSamples.size < 5) failureSamples.add(String((err as Error).message ?? err));
        }
      }
    }));
    clearInterval(sampler);
    phases.push({ name: 'opening', start: t, end: elapsed() });
    log(`opened ${open.length} idle connections (${failures} failed) in ${fmt(elapsed() - t, 1)} s`);

    t = elapsed();
    await sleep(opts.settle * 1000);
    rss.withConnections = await rssOver(2);
    proxyReportedConnections = await status();
    const holdRest = Math.max(0, opts.hold - opts.settle - 2);
    if (holdRest > 0) await sleep(holdRest * 1000);
    rss.afterHold = await rssOver(1);
    phases.push({ name: 'idle crowd', start: t, end: elapsed() });
    log(`with ${open.length} idle connections: proxy RSS ${fmt(rss.withConnections, 1)} MiB (${fmt(rss.afterHold, 1)} MiB at the end of the hold); proxy reports ${proxyReportedConnections ?? '?'} connections`);

    t = elapsed();
    for (const c of open.splice(0)) c.socket.destroy();
    await sleep(opts.settle * 1000);
    rss.afterClose = await rssOver(2);
    phases.push({ name: 'closed', start: t, end: elapsed() });
    log(`after closing them: proxy RSS ${fmt(rss.afterClose, 1)} MiB`);
    stopLoad = true;
    results = await Promise.all(loads.map((l) => l.load.done));
    rss.hwm = memoryOf(bp.pid)?.hwmMiB ?? Number.NaN;
    refused = await scrapeCounters(bp.proxy.adminUrl, 'kmp_refused_connections_total', 'reason').catch(() => ({}));
  } finally {
    stopLoad = true;
    stopProgress();
    for (const c of open) c.socket.destroy();
    await bp.stop();
    if (!opts['keep-topics']) await deleteTopics(['source'], [topic]);
  }

  const opened = handshakeMs.length;
  const perConnectionKiB = ((rss.withConnections - rss.baseline) * 1024) / Math.max(1, opened);
  const handshake = summarize(handshakeMs);
  // Active producers' latency, by the phase in which each sample was due.
  const producerLatency = results.map((r, i) => {
    const byPhase: Record<string, LatencySummary> = {};
    for (const ph of phases) {
      const v: number[] = [];
      for (let k = 0; k < r.timeline.at.length; k++) if (r.timeline.at[k] >= ph.start && r.timeline.at[k] < ph.end) v.push(r.timeline.latencyMs[k]);
      byPhase[ph.name] = summarize(v);
    }
    return { producer: `${loads[i].kind} #${i + 1}`, unit: r.latencyUnit, acked: r.acked, errors: r.errors, errorSamples: r.errorSamples, byPhase };
  });
  const warning = brokers.restarted();
  const settings = { connections: opts.connections, parallel: opts.parallel, clients: opts.clients, rate: opts.rate, size: opts.size, settleSeconds: opts.settle, holdSeconds: opts.hold, producerKinds: kinds };
  const lines: string[] = [];
  if (warning) lines.push(warning, '');
  lines.push(`# connections — ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`, '');
  lines.push(environmentLine(environment), '');
  lines.push(`${opts.connections.toLocaleString('en-US')} idle TCP connections, each after an ApiVersions v0 + Metadata v1 exchange (${opts.parallel} handshakes in flight while opening), ` +
    `next to ${opts.clients} active idempotent producer(s) writing ${opts.rate} records/s of ${opts.size} B in total. RSS values are means of 200 ms samples over 1–2 s.`, '');
  lines.push(table(['', 'value'], [
    ['connections opened / failed', `${opened.toLocaleString('en-US')} / ${failures}${failureSamples.size > 0 ? ` (${[...failureSamples].join('; ')})` : ''}`],
    ['connections the proxy reports (/v1/status, with the producers\')', String(proxyReportedConnections ?? '–')],
    ['connections the proxy refused (kmp_refused_connections_total)', Object.entries(refused).filter(([, n]) => n > 0).map(([r, n]) => `${r} × ${n}`).join(', ') || 'none'],
    ['proxy connection limits', limitsRaised ? `raised for this run: ${Object.entries(limitEnv).map(([k, v]) => `${k}=${v}`).join(', ')}` : 'proxy defaults (raising them was rejected)'],
    ['proxy RSS baseline (producers only)', `${fmt(rss.baseline, 1)} MiB`],
    [`proxy RSS with ${opened} idle connections`, `${fmt(rss.withConnections, 1)} MiB (end of hold: ${fmt(rss.afterHold, 1)} MiB)`],
    ['**memory per idle connection**', `**${fmt(perConnectionKiB, 1)} KiB**`],
    ['proxy RSS after closing them', `${fmt(rss.afterClose, 1)} MiB`],
    ['proxy peak RSS (VmHWM)', `${fmt(rss.hwm, 1)} MiB`],
    ['handshake (connect → Metadata answer) p50 / p99 / max', `${fmt(handshake.p50, 2)} / ${fmt(handshake.p99, 2)} / ${fmt(handshake.max, 2)} ms`],
  ], ['l', 'l']));
  lines.push('', '## Active producers\' latency by phase (ms)', '');
  lines.push(table(
    ['producer', 'unit', 'acked', 'errors', ...phases.map((p) => `${p.name} p50 / p99`)],
    producerLatency.map((p) => [p.producer, p.unit, p.acked.toLocaleString('en-US'), String(p.errors), ...phases.map((ph) => `${fmt(p.byPhase[ph.name]?.p50)} / ${fmt(p.byPhase[ph.name]?.p99)}`)]),
  ));
  lines.push('', 'Memory per connection = (RSS with the connections − baseline RSS) / connections opened. RSS does not include kernel socket buffers. ' +
    'RSS after closing rarely returns to the baseline: V8 keeps heap it has grown into.');
  const markdown = lines.join('\n');
  const svg = renderChart({
    title: `kmp with ${opened.toLocaleString('en-US')} idle connections: proxy memory`,
    subtitle: `${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC · ${fmt(perConnectionKiB, 1)} KiB per idle connection · ${opts.clients} active producer(s) at ${opts.rate} records/s`,
    columns: 2,
    panels: [
      {
        kind: 'lines', title: 'Proxy RSS over time', xLabel: 'seconds', yLabel: 'RSS, MiB',
        series: [{ name: 'proxy RSS (MiB)', color: COLORS.proxy, points: rssTrace }],
        markers: phases.map((p) => ({ x: round(p.start, 2), label: p.name, color: COLORS.grey })),
      },
      {
        kind: 'bars', title: 'Active producers: p99 latency by phase', yLabel: 'p99 latency, ms', decimals: 1,
        categories: phases.map((p) => p.name),
        series: producerLatency.map((p, i) => ({ name: p.producer, color: [COLORS.purple, COLORS.direct, COLORS.green, COLORS.red][i % 4], values: phases.map((ph) => round(p.byPhase[ph.name]?.p99 ?? Number.NaN, 1)) })),
      },
    ],
  });
  const files = writeResults('connections', startedAt, {
    json: {
      scenario: 'connections', startedAt: startedAt.toISOString(), environment, brokerPids: brokers.pids, brokerRestartWarning: warning, settings,
      opened, failures, failureSamples: [...failureSamples], proxyReportedConnections, refused, limitsRaised, limitEnv, rssMiB: rss, perConnectionKiB, handshakeMs: handshake, phases, producerLatency, rssTrace, connTrace,
    },
    markdown,
    svg,
  });
  process.stdout.write(`${markdown}\n`);
  log(`wrote ${files.json}, ${files.markdown}, ${files.svg}`);
}

export const connectionsScenario: Scenario = {
  name: 'connections',
  summary: 'proxy memory per idle connection (default 1000 after ApiVersions+Metadata) next to a few active producers',
  options,
  run,
};
