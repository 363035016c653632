// kcat helper for integration tests: Debian's kcat is built on librdkafka 2.0.2, an old librdkafka that real
// deployments still run (Produce v7, Metadata v4), so it exercises the proxy's compatibility with old clients.
import { spawn } from 'node:child_process';

export interface KcatRecord {
  /** null sends the record without a key: the line has no delimiter, so the value may not contain ':'. */
  key: string | null;
  value: string;
}

export interface RunKcatProducerOptions {
  bootstrap: string;
  topic: string;
  records: KcatRecord[];
  /** librdkafka properties passed as `-X key=value`; they come after (and so override) the defaults. */
  props?: Record<string, string>;
  /** Kills kcat after this long (default 60 s). */
  timeoutMs?: number;
}

export interface KcatResult {
  exitCode: number | null;
  stderr: string;
  /** "Delivery failed" lines that kcat printed (it reports failed delivery reports on stderr). */
  failedDeliveries: number;
}

/**
 * Produces `records` as `key:value` lines with `kcat -P -K:` (idempotent, acks=all) and resolves when kcat exits.
 * Keys must not contain ':' or newlines and values must not contain newlines, because kcat splits lines on them.
 */
export function runKcatProducer(opts: RunKcatProducerOptions): Promise<KcatResult> {
  for (const r of opts.records) {
    if (r.key !== null && /[:\n]/.test(r.key)) throw new Error(`kcat key may not contain ':' or a newline: ${JSON.stringify(r.key)}`);
    if (r.value.includes('\n')) throw new Error(`kcat value may not contain a newline: ${JSON.stringify(r.value)}`);
    if (r.key === null && r.value.includes(':')) throw new Error(`kcat value of a keyless record may not contain ':': ${JSON.stringify(r.value)}`);
  }
  const props: Record<string, string> = { 'enable.idempotence': 'true', acks: 'all', ...opts.props };
  const args = ['-P', '-b', opts.bootstrap, '-t', opts.topic, '-K:'];
  for (const [k, v] of Object.entries(props)) args.push('-X', `${k}=${v}`);
  // A line without the delimiter is sent with a null key (":value" would send an empty, non-null key).
  const stdin = opts.records.map((r) => (r.key === null ? `${r.value}\n` : `${r.key}:${r.value}\n`)).join('');
  const timeoutMs = opts.timeoutMs ?? 60_000;

  return new Promise((resolve, reject) => {
    const child = spawn('kcat', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[kmp test] kcat killed after ${timeoutMs} ms`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const failedDeliveries = stderr.split('\n').filter((l) => l.includes('Delivery failed')).length;
      resolve({ exitCode: code, stderr, failedDeliveries });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(stdin);
  });
}
