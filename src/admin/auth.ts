// Bearer-token authentication of the admin API. Tokens are compared as SHA-256 digests with timingSafeEqual,
// against every configured token without stopping at the first match, so neither the length nor the prefix of
// a valid token leaks through response timing.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AdminRole, AdminToken } from '../config/index.ts';

export interface Principal {
  /** The token's name: the `who` of every write in the audit. */
  readonly name: string;
  readonly role: AdminRole;
}

/** Who a write is recorded as when no tokens are configured (only possible on a loopback address). */
export const ANONYMOUS_LOOPBACK: Principal = Object.freeze({ name: 'anonymous-loopback', role: 'operator' });

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

export class TokenAuthenticator {
  readonly #entries: readonly { readonly digest: Buffer; readonly principal: Principal }[];

  constructor(tokens: readonly AdminToken[]) {
    this.#entries = tokens.map((t) => ({ digest: digest(t.token), principal: Object.freeze({ name: t.name, role: t.role }) }));
  }

  /** False: the API is open (loopback only, enforced by the server). */
  get enabled(): boolean {
    return this.#entries.length > 0;
  }

  /** The principal of an `Authorization: Bearer …` header value, or null when missing or not a known token. */
  authenticate(authorization: string | undefined): Principal | null {
    if (!this.enabled) return ANONYMOUS_LOOPBACK;
    const match = authorization === undefined ? null : /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (match === null) return null;
    const presented = digest(match[1]);
    let found: Principal | null = null;
    for (const entry of this.#entries) {
      if (timingSafeEqual(entry.digest, presented) && found === null) found = entry.principal;
    }
    return found;
  }
}

/** Operators may do everything a viewer may. */
export function roleAllows(role: AdminRole, needed: AdminRole): boolean {
  return needed === 'viewer' || role === 'operator';
}
