// What a result was measured on, stored next to the numbers: without it a result file cannot be compared with
// another one later.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KAFKA_VERSION, REPO_ROOT } from '../../scripts/kafka/testbed.ts';

export interface BenchEnvironment {
  node: string;
  platform: string;
  kernel: string;
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  loadAverageAtStart: number[];
  kafkaVersion: string;
  java: string | null;
  kafkajs: string | null;
  confluentKafkaJavascript: string | null;
  librdkafka: string | null;
  commit: string | null;
  /** Uncommitted changes in the working tree when the run started (others edit the tree concurrently). */
  dirty: boolean | null;
  hostname: string;
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function packageVersion(name: string): string | null {
  try {
    const file = path.join(REPO_ROOT, 'node_modules', name, 'package.json');
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

function javaVersionLine(): string | null {
  // `java -version` writes to stderr.
  const res = spawnSync('java', ['-version'], { encoding: 'utf8' });
  return `${res.stderr ?? ''}${res.stdout ?? ''}`.split('\n')[0]?.trim() || null;
}

async function librdkafkaVersion(): Promise<string | null> {
  try {
    const mod = (await import('@confluentinc/kafka-javascript')) as unknown as { default?: { librdkafkaVersion?: string }; librdkafkaVersion?: string };
    return mod.default?.librdkafkaVersion ?? mod.librdkafkaVersion ?? null;
  } catch {
    return null;
  }
}

export async function collectEnvironment(): Promise<BenchEnvironment> {
  const status = git(['status', '--porcelain']);
  return {
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverageAtStart: os.loadavg().map((v) => Math.round(v * 100) / 100),
    kafkaVersion: KAFKA_VERSION,
    java: javaVersionLine(),
    kafkajs: packageVersion('kafkajs'),
    confluentKafkaJavascript: packageVersion('@confluentinc/kafka-javascript'),
    librdkafka: await librdkafkaVersion(),
    commit: git(['rev-parse', '--short', 'HEAD']),
    dirty: status === null ? null : status !== '',
    hostname: os.hostname(),
  };
}

/** A Markdown line summarizing the environment, for the head of every summary. */
export function environmentLine(env: BenchEnvironment): string {
  return `commit \`${env.commit ?? '?'}\`${env.dirty ? ' (working tree had uncommitted changes)' : ''} · Node ${env.node} · ` +
    `Kafka ${env.kafkaVersion} · ${env.cpuModel}, ${env.cores} cores, ${env.memoryGiB} GiB · load avg at start ${env.loadAverageAtStart.join(' / ')} · ` +
    `kafkajs ${env.kafkajs ?? '?'} · librdkafka ${env.librdkafka ?? '?'} · ${env.java ?? 'java ?'}`;
}
