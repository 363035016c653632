// The move protocol's transport across the fleet (routing/move-protocol.ts): every message — prepare, prepared,
// commit, released, abort, aborted — is one record in the single-partition move log `<prefix>.moves`, and every
// member reads the whole log in the same order. Consequences the protocol relies on:
// - two coordinators' prepares reach every member in the same order, so a member never holds two conflicting
//   moves in opposite orders (one of them fails on every member, the other may win);
// - a coordinator hears its own members through the same log as anyone else (no special local path).
// Members are the live ones of the lease table (membership.ts); `isGone` is the coordinator's lease rule: gone
// only after lease + skew margin without a heartbeat, or after the member announced it leaves.
import type { Logger } from 'pino';
import type { CoordinatorMessage, MoveTransport, ParticipantMessage } from '../../routing/move-protocol.ts';
import type { ControlLogPort } from './control-log.ts';
import type { ReadRecord } from './control-records.ts';
import { LogTailer } from './log-tailer.ts';
import type { Membership } from './membership.ts';

type Envelope =
  | { readonly kind: 'c'; readonly from: string; readonly to: string | null; readonly message: CoordinatorMessage }
  | { readonly kind: 'p'; readonly from: string; readonly message: ParticipantMessage };

/** Bigints (offsets in reports) as tagged strings: JSON has no 64-bit integers. */
function encode(envelope: Envelope): string {
  return JSON.stringify(envelope, (_k, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));
}

function decode(text: string): Envelope {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v !== null && typeof v === 'object' && '$bigint' in v && typeof (v as { $bigint: unknown }).$bigint === 'string') {
      return BigInt((v as { $bigint: string }).$bigint);
    }
    return v;
  }) as Envelope;
}

export interface KafkaMoveTransportOptions {
  readonly log: ControlLogPort;
  readonly topic: string;
  readonly lane: number;
  readonly membership: Membership;
  readonly logger: Logger;
  /** Sees every coordinator message in the log, whoever it is for (the orphan resolver tracks undecided moves). */
  readonly observe?: (from: string, message: CoordinatorMessage) => void;
}

export class KafkaMoveTransport implements MoveTransport {
  readonly #o: KafkaMoveTransportOptions;
  readonly #tailer: LogTailer;
  #participant: { member: string; handler: (message: CoordinatorMessage) => void } | null = null;
  #coordinator: ((message: ParticipantMessage) => void) | null = null;
  /** Appends in send order: a member's prepared must never overtake its own earlier message. */
  #queue: Promise<void> = Promise.resolve();

  constructor(options: KafkaMoveTransportOptions) {
    this.#o = options;
    this.#tailer = new LogTailer({ log: options.log, topic: options.topic, lane: options.lane, logger: options.logger, apply: (r) => this.#deliver(r), maxWaitMs: 100 });
  }

  get tailer(): LogTailer {
    return this.#tailer;
  }

  /** Starts reading at the log's end: moves decided before this member existed are in the route log already. */
  async start(): Promise<void> {
    await this.#tailer.start({ fromEnd: true });
  }

  async stop(): Promise<void> {
    await this.#queue;
    await this.#tailer.stop();
  }

  join(member: string, handler: (message: CoordinatorMessage) => void): (message: ParticipantMessage) => void {
    this.#participant = { member, handler };
    return (message) => this.#append({ kind: 'p', from: member, message });
  }

  members(): readonly string[] {
    return this.#o.membership.live();
  }

  isGone(member: string): boolean {
    return !this.#o.membership.isLive(member);
  }

  isFenced(): boolean {
    return this.#o.membership.isFenced();
  }

  toParticipants(message: CoordinatorMessage, to: string | null = null): void {
    this.#append({ kind: 'c', from: this.#o.membership.self, to, message });
  }

  /** Hands a decision to this member's participant as if its coordinator had sent it (orphan-resolver.ts). */
  deliverLocally(message: CoordinatorMessage): void {
    this.#participant?.handler(message);
  }

  onParticipantMessage(handler: (message: ParticipantMessage) => void): void {
    this.#coordinator = handler;
  }

  #append(envelope: Envelope): void {
    const value = encode(envelope);
    this.#queue = this.#queue.then(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.#o.log.append(this.#o.topic, [{ key: envelope.from, value }]);
          return;
        } catch (error) {
          // A message that cannot be written is a member that does not answer: the coordinator's deadline and
          // lease rules decide then. Retried for a while first, since most control-cluster blips are short.
          if (attempt >= 20) {
            this.#o.logger.error({ err: error instanceof Error ? error.message : String(error), type: envelope.message.type }, 'fleet: move message not written');
            return;
          }
          await new Promise((r) => setTimeout(r, Math.min(50 * attempt, 500)));
        }
      }
    });
  }

  #deliver(r: ReadRecord): void {
    if (r.value === null) return;
    const envelope = decode(r.value);
    if (envelope.kind === 'c') {
      this.#o.observe?.(envelope.from, envelope.message);
      const p = this.#participant;
      if (p !== null && (envelope.to === null || envelope.to === p.member)) p.handler(envelope.message);
    } else {
      this.#coordinator?.(envelope.message);
    }
  }
}
