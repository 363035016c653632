// A sync map built from real data for the consumer-move tests, independent of kmp's write-back: each batch is
// produced to the target, then the same records are produced to the source, and both base offsets are noted.
// Entries are therefore exact, like the ones the write-back records.
import type { Producer } from 'kafkajs';
import type { SyncMapEntry, SyncMapPort } from '../../src/consumers/sync-map-port.ts';

export class ExactSyncMap implements SyncMapPort {
  readonly #entries = new Map<string, SyncMapEntry[]>();

  add(topic: string, partition: number, entry: SyncMapEntry): void {
    const k = `${topic}\u0000${partition}`;
    this.#entries.set(k, [...(this.#entries.get(k) ?? []), entry]);
  }

  entries(topic: string, partition: number): readonly SyncMapEntry[] {
    return this.#entries.get(`${topic}\u0000${partition}`) ?? [];
  }

  translateToTarget(topic: string, partition: number, sourceOffset: bigint): bigint | null {
    const e = this.entries(topic, partition).find((x) => sourceOffset >= x.sourceOffset && sourceOffset < x.sourceOffset + BigInt(x.count));
    return e === undefined ? null : e.targetOffset + (sourceOffset - e.sourceOffset);
  }

  translateToSource(topic: string, partition: number, targetOffset: bigint): bigint | null {
    const e = this.entries(topic, partition).find((x) => targetOffset >= x.targetOffset && targetOffset < x.targetOffset + BigInt(x.count));
    return e === undefined ? null : e.sourceOffset + (targetOffset - e.targetOffset);
  }

  copiedRange(topic: string, partition: number): { source: [bigint, bigint]; target: [bigint, bigint] } | null {
    const es = this.entries(topic, partition);
    const first = es[0];
    const last = es.at(-1);
    if (first === undefined || last === undefined) return null;
    return {
      source: [first.sourceOffset, last.sourceOffset + BigInt(last.count)],
      target: [first.targetOffset, last.targetOffset + BigInt(last.count)],
    };
  }
}

/** Produces one batch (one send to one partition) and returns its base offset. */
export async function produceBatch(producer: Producer, topic: string, partition: number, values: readonly string[]): Promise<bigint> {
  const [meta] = await producer.send({ topic, acks: -1, messages: values.map((value) => ({ partition, value })) });
  if (meta === undefined || meta.baseOffset === undefined) throw new Error(`no base offset for ${topic}-${partition}`);
  return BigInt(meta.baseOffset);
}
