// The move protocol's transport inside one process: coordinator and participants are objects here, but every
// message is delivered asynchronously (a microtask later, in send order) and as a structured clone, so neither
// side can rely on sharing objects or on being called synchronously — what a network transport will not offer.

import type { CoordinatorMessage, MoveTransport, ParticipantMessage } from './move-protocol.ts';

export class InProcessTransport implements MoveTransport {
  readonly #participants = new Map<string, (message: CoordinatorMessage) => void>();
  #coordinator: ((message: ParticipantMessage) => void) | null = null;

  /** Joins a participant; returns how it sends to the coordinator. */
  join(member: string, handler: (message: CoordinatorMessage) => void): (message: ParticipantMessage) => void {
    if (this.#participants.has(member)) throw new Error(`participant "${member}" has already joined`);
    this.#participants.set(member, handler);
    return (message) => {
      const copy = structuredClone(message);
      queueMicrotask(() => this.#coordinator?.(copy));
    };
  }

  leave(member: string): void {
    this.#participants.delete(member);
  }

  members(): readonly string[] {
    return [...this.#participants.keys()];
  }

  toParticipants(message: CoordinatorMessage, to: string | null = null): void {
    for (const [member, handler] of this.#participants) {
      if (to !== null && to !== member) continue;
      const copy = structuredClone(message); // one per member: nothing is shared between them either
      queueMicrotask(() => handler(copy));
    }
  }

  onParticipantMessage(handler: (message: ParticipantMessage) => void): void {
    this.#coordinator = handler;
  }
}
