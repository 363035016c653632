// A control log in memory behind the ControlLogPort the real client implements: per topic an array of records;
// reads wait (briefly) for a record like a long poll. For unit tests of what the fleet keeps in control topics.
import type { ControlLogPort } from '../../src/fleet/control-log.ts';
import type { ControlRecord, ReadRecord } from '../../src/fleet/control-records.ts';

export class MemoryControlLog implements ControlLogPort {
  readonly topics = new Map<string, ReadRecord[]>();
  #wake: (() => void)[] = [];

  async append(topic: string, records: readonly ControlRecord[]): Promise<bigint> {
    const log = this.topics.get(topic) ?? [];
    this.topics.set(topic, log);
    const base = BigInt(log.length);
    records.forEach((r, i) => log.push({ ...r, offset: base + BigInt(i), timestamp: Date.now() }));
    for (const w of this.#wake.splice(0)) w();
    return base;
  }

  async endOffset(topic: string): Promise<bigint> {
    return BigInt(this.topics.get(topic)?.length ?? 0);
  }

  async read(topic: string, offset: bigint, maxWaitMs: number): Promise<{ records: ReadRecord[]; next: bigint; highWatermark: bigint }> {
    if (BigInt(this.topics.get(topic)?.length ?? 0) <= offset && maxWaitMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, maxWaitMs);
        this.#wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    const log = this.topics.get(topic) ?? [];
    return { records: log.slice(Number(offset)), next: BigInt(log.length), highWatermark: BigInt(log.length) };
  }
}
