// Records golden Kafka frames from real clients for test/unit/protocol-golden.test.ts.
//
//   node scripts/capture/capture-golden.ts [--only kafkajs,java,kcat,rdkafka]
//
// For each client it creates a fresh 3-partition topic on the source broker (127.0.0.1:19092; started if it is not
// running), starts a RecordingRelay in front of the broker on an ephemeral port, runs the client against the relay
// (idempotent producer, acks=all, a few small keyed records), and writes the recorded frames to
// test/fixtures/golden/<client>/NNN-<Api>-v<version>-<request|response>.bin plus index.json. Each client's folder is
// replaced as a whole, and only after its capture succeeded. At most MAX_PAIRS_PER_API request/response pairs are
// kept per (client, API) so the fixtures stay small.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { CLUSTERS, KAFKA_VERSION, LIBS_DIR, REPO_ROOT, startCluster } from '../kafka/testbed.ts';
import { createTopic, uniqueTopic, withAdmin } from '../../test/support/kafka.ts';
import { runKcatProducer } from '../../test/support/kcat.ts';
import { produceWithRdkafka } from '../../test/support/rdkafka.ts';
import { apiName } from './api-names.ts';
import { RecordingRelay, type CapturedFrame, type ClientSoftware } from './recording-relay.ts';

const GOLDEN_DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'golden');
const MAX_PAIRS_PER_API = 15;
const PARTITIONS = 3;
const CLIENTS = ['kafkajs', 'java', 'kcat', 'rdkafka'] as const;
type ClientName = (typeof CLIENTS)[number];

interface RunInfo {
  label: string;
  topic: string;
  compression: string;
  records: number;
}

interface Run {
  label: string;
  compression: string;
  /** What the client is, for clients that do not say so in ApiVersions (v3+ carries client_software_*). */
  knownSoftware?: ClientSoftware;
  /** Produces to the relay; throws if the client reports a failure. */
  produce: (bootstrap: string, topic: string) => Promise<number>;
}

function keyed(prefix: string, n: number): { key: string; value: string }[] {
  return Array.from({ length: n }, (_, i) => ({ key: `${prefix}-key-${i % 3}`, value: `${prefix}-value-${i}` }));
}

async function produceWithKafkajs(bootstrap: string, topic: string, compression: 'none' | 'gzip'): Promise<number> {
  const kafka = new Kafka({ clientId: 'kmp-golden-kafkajs', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  // kafkajs only allows idempotence with at most one request in flight.
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    if (compression === 'none') {
      const plain = keyed('kafkajs-none', 6);
      await producer.send({ topic, acks: -1, messages: plain });
      // Record-level variety: headers, a null key, a tombstone (null value).
      const odd = [
        { key: 'kafkajs-h', value: 'with-headers', headers: { trace: 'abc', empty: '' } },
        { key: null, value: 'no-key' },
        { key: 'kafkajs-tombstone', value: null },
      ];
      await producer.send({ topic, acks: -1, messages: odd });
      return plain.length + odd.length;
    }
    // A gzip batch in a Produce request that carries two topics.
    const second = `${topic}-b`;
    await createTopic('source', second, PARTITIONS);
    try {
      const a = keyed('kafkajs-gzip-a', 6);
      const b = keyed('kafkajs-gzip-b', 4);
      await producer.sendBatch({
        acks: -1,
        compression: CompressionTypes.GZIP,
        topicMessages: [{ topic, messages: a }, { topic: second, messages: b }],
      });
      return a.length + b.length;
    } finally {
      await withAdmin('source', (admin) => admin.deleteTopics({ topics: [second] })).catch(() => {});
    }
  } finally {
    await producer.disconnect();
  }
}

function runConsoleProducer(bootstrap: string, topic: string, codec: 'lz4' | 'zstd'): Promise<number> {
  const records = keyed(`java-${codec}`, 6);
  const args = [
    '-cp', path.join(LIBS_DIR, '*'), 'org.apache.kafka.tools.ConsoleProducer',
    '--bootstrap-server', bootstrap,
    '--topic', topic,
    '--compression-codec', codec,
    '--command-property', 'enable.idempotence=true',
    '--command-property', 'acks=all',
    '--command-property', `client.id=kmp-golden-java-${codec}`,
    '--reader-property', 'parse.key=true',
    '--reader-property', 'key.separator=:',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('java', args, { stdio: ['pipe', 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      // ConsoleProducer logs send failures (it does not exit non-zero for them), so any ERROR line is a failure.
      if (code !== 0 || /ERROR|Exception/.test(stderr)) reject(new Error(`ConsoleProducer (${codec}) exit ${code}:\n${stderr}`));
      else resolve(records.length);
    });
    child.stdin.end(records.map((r) => `${r.key}:${r.value}\n`).join(''));
  });
}

function kafkajsSoftware(): ClientSoftware {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'node_modules', 'kafkajs', 'package.json'), 'utf8')) as { version: string };
  return { name: 'kafkajs', version: pkg.version };
}

const RUNS: Record<ClientName, Run[]> = {
  kafkajs: [
    { label: 'kafkajs-none', compression: 'none', knownSoftware: kafkajsSoftware(), produce: (b, t) => produceWithKafkajs(b, t, 'none') },
    { label: 'kafkajs-gzip', compression: 'gzip', knownSoftware: kafkajsSoftware(), produce: (b, t) => produceWithKafkajs(b, t, 'gzip') },
  ],
  java: [
    { label: 'java-console-producer-lz4', compression: 'lz4', produce: (b, t) => runConsoleProducer(b, t, 'lz4') },
    { label: 'java-console-producer-zstd', compression: 'zstd', produce: (b, t) => runConsoleProducer(b, t, 'zstd') },
  ],
  kcat: [
    {
      label: 'kcat',
      compression: 'none',
      produce: async (bootstrap, topic) => {
        const records = keyed('kcat', 6);
        const res = await runKcatProducer({ bootstrap, topic, records, props: { 'client.id': 'kmp-golden-kcat' } });
        if (res.exitCode !== 0 || res.failedDeliveries > 0) throw new Error(`kcat exit ${res.exitCode}: ${res.stderr}`);
        return records.length;
      },
    },
  ],
  rdkafka: [
    {
      label: 'rdkafka',
      compression: 'none',
      produce: async (bootstrap, topic) => {
        const records = keyed('rdkafka', 6);
        const res = await produceWithRdkafka({ bootstrap, topic, records, config: { 'client.id': 'kmp-golden-rdkafka' } });
        const failed = res.deliveries.filter((d) => d.error !== null);
        if (failed.length > 0) throw new Error(`rdkafka: ${failed.length} records failed: ${failed[0]!.error}`);
        return records.length;
      },
    },
  ],
};

interface IndexEntry {
  file: string;
  direction: 'request' | 'response';
  apiKey: number;
  apiName: string;
  apiVersion: number;
  correlationId: number;
  /** Connection number within the run (the relay's accept order). */
  connection: number;
  clientId: string | null;
  run: string;
  /** For a request: its response's file; for a response: its request's file. */
  pairFile: string;
}

interface CapturedRun {
  info: RunInfo;
  frames: CapturedFrame[];
  software: ClientSoftware[];
}

async function captureRun(run: Run): Promise<CapturedRun> {
  const topic = uniqueTopic(`golden-${run.label}`);
  await createTopic('source', topic, PARTITIONS);
  const source = CLUSTERS.source;
  const relay = new RecordingRelay(source.host, source.port);
  await relay.listen();
  let records: number;
  try {
    records = await run.produce(relay.bootstrap, topic);
    // Let in-flight responses (e.g. to a last Metadata refresh) reach the relay before it closes.
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    await relay.close();
  }
  if (relay.problems.length > 0) throw new Error(`${run.label}: relay problems:\n${relay.problems.join('\n')}`);
  await withAdmin('source', (admin) => admin.deleteTopics({ topics: [topic] })).catch(() => {});
  const software = relay.software.length > 0 || run.knownSoftware === undefined ? relay.software : [run.knownSoftware];
  return { info: { label: run.label, topic, compression: run.compression, records }, frames: relay.frames, software };
}

/** Keeps complete request/response pairs, at most MAX_PAIRS_PER_API per API, in capture order. */
function selectPairs(runs: CapturedRun[]): { run: string; request: CapturedFrame; response: CapturedFrame }[] {
  const kept: { run: string; request: CapturedFrame; response: CapturedFrame }[] = [];
  const perApi = new Map<number, number>();
  for (const run of runs) {
    const responses = new Map<number, CapturedFrame>();
    for (const f of run.frames) if (f.direction === 'response' && f.requestSeq !== undefined) responses.set(f.requestSeq, f);
    for (const f of run.frames) {
      if (f.direction !== 'request') continue;
      const response = responses.get(f.seq);
      if (response === undefined) continue; // the client closed before the answer came (or acks=0)
      const n = perApi.get(f.apiKey) ?? 0;
      if (n >= MAX_PAIRS_PER_API) continue;
      perApi.set(f.apiKey, n + 1);
      kept.push({ run: run.info.label, request: f, response });
    }
  }
  return kept;
}

function writeClientFolder(client: ClientName, runs: CapturedRun[]): { files: number; bytes: number; counts: Record<string, number> } {
  const pairs = selectPairs(runs);
  // Number the files in wire order: a request, then later its response (other frames may come in between).
  const frames = pairs
    .flatMap((p) => [{ run: p.run, frame: p.request }, { run: p.run, frame: p.response }])
    .sort((a, b) => runOrder(runs, a.run) - runOrder(runs, b.run) || a.frame.seq - b.frame.seq);
  const fileOf = new Map<CapturedFrame, string>();
  frames.forEach(({ frame }, i) => {
    const nnn = String(i + 1).padStart(3, '0');
    fileOf.set(frame, `${nnn}-${apiName(frame.apiKey)}-v${frame.apiVersion}-${frame.direction}.bin`);
  });
  const pairOf = new Map<CapturedFrame, CapturedFrame>();
  for (const p of pairs) {
    pairOf.set(p.request, p.response);
    pairOf.set(p.response, p.request);
  }

  const dir = path.join(GOLDEN_DIR, client);
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const entries: IndexEntry[] = [];
  const counts: Record<string, number> = {};
  let bytes = 0;
  for (const { run, frame } of frames) {
    const file = fileOf.get(frame)!;
    fs.writeFileSync(path.join(tmp, file), frame.bytes);
    bytes += frame.bytes.length;
    const countKey = `${apiName(frame.apiKey)} ${frame.direction}`;
    counts[countKey] = (counts[countKey] ?? 0) + 1;
    entries.push({
      file,
      direction: frame.direction,
      apiKey: frame.apiKey,
      apiName: apiName(frame.apiKey),
      apiVersion: frame.apiVersion,
      correlationId: frame.correlationId,
      connection: frame.connection,
      clientId: frame.clientId,
      run,
      pairFile: fileOf.get(pairOf.get(frame)!)!,
    });
  }
  const software = uniqueSoftware(runs.flatMap((r) => r.software));
  const index = {
    client,
    clientSoftware: software,
    broker: `Apache Kafka ${KAFKA_VERSION} (single KRaft node, kmp test bed source cluster)`,
    framing:
      'Each .bin file is ONE frame WITHOUT its 4-byte size prefix: the request (or response) header followed by ' +
      'the body, byte for byte as its sender wrote it. This is what protocol/codec.ts decodeRequest(frame) expects.',
    notes: [
      'Response files are the bytes the broker sent. The capture relay rewrote the broker port in Metadata ' +
        'responses before passing them on to the client (so it stayed on the relay); the files hold the originals.',
      `At most ${MAX_PAIRS_PER_API} request/response pairs per API are kept; requests without a response are dropped.`,
      'Regenerate with: node scripts/capture/capture-golden.ts --only ' + client,
    ],
    runs: runs.map((r) => r.info),
    frames: entries,
  };
  fs.writeFileSync(path.join(tmp, 'index.json'), JSON.stringify(index, null, 2) + '\n');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return { files: entries.length, bytes, counts };
}

const README = `# Golden Kafka frames

Recorded from real clients talking to a real Apache Kafka ${KAFKA_VERSION} broker by
\`node scripts/capture/capture-golden.ts [--only ${CLIENTS.join(',')}]\` (it replaces each captured client's folder).
Checked by \`test/unit/protocol-golden.test.ts\`: every request and response must decode and re-encode to the same bytes.

- One folder per client: ${CLIENTS.join(', ')}. Each has an \`index.json\` with, per file, the API key/name/version,
  correlation id, direction, connection, client id, capture run and the paired request/response file, plus the
  client software (from ApiVersions v3+, or known) and the topics used.
- File names: \`NNN-<Api>-v<version>-<request|response>.bin\`, NNN in wire order within the client's capture.
- **Framing: each .bin is one frame WITHOUT the 4-byte size prefix** (header + body), as \`decodeRequest(frame)\` expects.
- Response files are what the broker sent. The relay rewrote the broker port in Metadata responses on the way to the
  client (so the client stayed on the relay); the files keep the original (127.0.0.1:19092).
- At most ${MAX_PAIRS_PER_API} request/response pairs per (client, API); requests without a response are not kept.
`;

function runOrder(runs: CapturedRun[], label: string): number {
  return runs.findIndex((r) => r.info.label === label);
}

function uniqueSoftware(list: ClientSoftware[]): ClientSoftware[] {
  const seen = new Map<string, ClientSoftware>();
  for (const s of list) seen.set(`${s.name}/${s.version}`, s);
  return [...seen.values()];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' } } });
  const selected = values.only === undefined ? [...CLIENTS] : values.only.split(',').map((s) => s.trim());
  for (const c of selected) {
    if (!(CLIENTS as readonly string[]).includes(c)) throw new Error(`unknown client ${c}; known: ${CLIENTS.join(', ')}`);
  }
  await startCluster('source');
  fs.mkdirSync(GOLDEN_DIR, { recursive: true });
  fs.writeFileSync(path.join(GOLDEN_DIR, 'README.md'), README);
  let totalBytes = 0;
  for (const client of selected as ClientName[]) {
    const runs: CapturedRun[] = [];
    for (const run of RUNS[client]) runs.push(await captureRun(run));
    const { files, bytes, counts } = writeClientFolder(client, runs);
    totalBytes += bytes;
    const summary = Object.entries(counts).map(([k, n]) => `${k}: ${n}`).join(', ');
    console.log(`${client}: ${files} frames, ${bytes} bytes (${summary})`);
  }
  console.log(`total ${totalBytes} bytes written under ${path.relative(REPO_ROOT, GOLDEN_DIR)}`);
  if (totalBytes > 2 * 1024 * 1024) console.warn('warning: fixtures exceed 2 MiB; lower the record counts or MAX_PAIRS_PER_API');
}

await main();
