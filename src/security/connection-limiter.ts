// Connection counts across every client-facing listener: a global cap and a cap per remote address. Checked on
// TCP accept, before any TLS or Kafka work, so a flood of connections costs the proxy as little as possible.
import type { LimitName } from './events.ts';

export interface ConnectionLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerAddress: number;
}

export class ConnectionLimiter {
  readonly #limits: ConnectionLimits;
  readonly #perAddress = new Map<string, number>();
  #total = 0;

  constructor(limits: ConnectionLimits) {
    this.#limits = limits;
  }

  get total(): number {
    return this.#total;
  }

  countFor(address: string): number {
    return this.#perAddress.get(address) ?? 0;
  }

  /** Takes a slot for a new connection from `address`; returns the limit that refuses it, or null. */
  tryAcquire(address: string): Extract<LimitName, 'max_connections' | 'max_connections_per_address'> | null {
    if (this.#total >= this.#limits.maxConnections) return 'max_connections';
    const n = this.#perAddress.get(address) ?? 0;
    if (n >= this.#limits.maxConnectionsPerAddress) return 'max_connections_per_address';
    this.#perAddress.set(address, n + 1);
    this.#total++;
    return null;
  }

  release(address: string): void {
    const n = this.#perAddress.get(address) ?? 0;
    if (n <= 1) this.#perAddress.delete(address);
    else this.#perAddress.set(address, n - 1);
    if (n > 0) this.#total--;
  }
}

/** IPv4-mapped IPv6 addresses count as their IPv4 address (one client, one budget). */
export function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
