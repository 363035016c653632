// SCRAM (RFC 5802, with the SHA-256 / SHA-512 variants of RFC 7677) as Kafka speaks it (docs/protocol-notes.md §g): gs2 header
// "n,," only (no channel binding, no authzid other than the user itself), usernames escaped with =2C / =3D,
// passwords used as their UTF-8 bytes (Kafka applies no SASLprep), at least 4096 iterations.
//
// The server side keeps only salted credentials (salt, iterations, StoredKey, ServerKey): it can verify a proof
// without ever knowing the password. The client side (the proxy's own upstream login) needs the password.
import { createHash, createHmac, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/** Hash functions SCRAM is used with; SHA-1 only for RFC 5802's test vector. */
export type ScramHash = 'sha1' | 'sha256' | 'sha512';

export const SCRAM_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
export type ScramMechanism = (typeof SCRAM_MECHANISMS)[number];

/** Kafka's minimum (ScramMechanism.minIterations) and kmp's default for new credentials. */
export const SCRAM_MIN_ITERATIONS = 4096;
export const SCRAM_DEFAULT_ITERATIONS = 8192;
/** A server asking for more than this is refused by the client: each login would burn seconds of CPU. */
export const SCRAM_MAX_ITERATIONS = 1_000_000;

export function hashOf(mechanism: ScramMechanism): ScramHash {
  return mechanism === 'SCRAM-SHA-256' ? 'sha256' : 'sha512';
}

export function keyLengthOf(hash: ScramHash): number {
  return hash === 'sha1' ? 20 : hash === 'sha256' ? 32 : 64;
}

/** What a server stores per user and mechanism (RFC 5802 §5.1, "stored credentials"). */
export interface ScramCredential {
  readonly salt: Buffer;
  readonly iterations: number;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

/** A SCRAM exchange failed; `message` is safe to show to the peer. */
export class ScramError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScramError';
  }
}

const hmac = (hash: ScramHash, key: Buffer, data: string | Buffer) => createHmac(hash, key).update(data).digest();
const h = (hash: ScramHash, data: Buffer) => createHash(hash).update(data).digest();

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

export function saltedPasswordSync(hash: ScramHash, password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, keyLengthOf(hash), hash);
}

export function saltedPassword(hash: ScramHash, password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  return pbkdf2Async(Buffer.from(password, 'utf8'), salt, iterations, keyLengthOf(hash), hash);
}

/** StoredKey and ServerKey from a SaltedPassword. */
export function keysFromSaltedPassword(hash: ScramHash, salted: Buffer): { clientKey: Buffer; storedKey: Buffer; serverKey: Buffer } {
  const clientKey = hmac(hash, salted, 'Client Key');
  return { clientKey, storedKey: h(hash, clientKey), serverKey: hmac(hash, salted, 'Server Key') };
}

/** New stored credentials for a password (what `kmp sasl-credential` writes). */
export function createScramCredential(
  hash: ScramHash,
  password: string,
  opts: { iterations?: number; salt?: Buffer } = {},
): ScramCredential {
  const iterations = opts.iterations ?? SCRAM_DEFAULT_ITERATIONS;
  const salt = opts.salt ?? randomBytes(32);
  const { storedKey, serverKey } = keysFromSaltedPassword(hash, saltedPasswordSync(hash, password, salt, iterations));
  return { salt, iterations, storedKey, serverKey };
}

/** Whether `password` matches stored credentials (used to verify SASL/PLAIN without storing passwords). */
export async function verifyPassword(hash: ScramHash, credential: ScramCredential, password: string): Promise<boolean> {
  const salted = await saltedPassword(hash, password, credential.salt, credential.iterations);
  const { storedKey } = keysFromSaltedPassword(hash, salted);
  return storedKey.length === credential.storedKey.length && timingSafeEqual(storedKey, credential.storedKey);
}

// ---------------------------------------------------------------------------------------------------------------
// Message syntax

/** RFC 5802 saslname: "," and "=" are escaped as =2C and =3D. */
export function escapeUsername(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

export function unescapeUsername(saslname: string): string {
  if (/=(?!2C|3D)/.test(saslname)) throw new ScramError('invalid username encoding');
  return saslname.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/**
 * `a=1,b=2` → Map. RFC 5802 attributes are one letter; Kafka's extensions (`tokenauth=true`) are words. Values
 * may contain "=".
 */
function parseAttributes(message: string, what: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq);
    if (eq < 1 || !/^[A-Za-z][A-Za-z0-9]*$/.test(key)) throw new ScramError(`invalid ${what}: malformed attribute`);
    if (out.has(key)) throw new ScramError(`invalid ${what}: attribute ${key} given twice`);
    out.set(key, part.slice(eq + 1));
  }
  return out;
}

const PRINTABLE_NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeBase64(value: string, what: string): Buffer {
  if (!BASE64.test(value)) throw new ScramError(`invalid ${what}: not base64`);
  return Buffer.from(value, 'base64');
}

export function newNonce(): string {
  // 18 random bytes → 24 base64 characters without padding; base64 never contains ",".
  return randomBytes(18).toString('base64');
}

export interface ClientFirstMessage {
  /** "n,," (or "y,,"): echoed, base64-encoded, in the client-final message's c= attribute. */
  readonly gs2Header: string;
  readonly username: string;
  readonly nonce: string;
  /** The message without the gs2 header: part of the AuthMessage. */
  readonly bare: string;
  /** SCRAM extensions (Kafka: `tokenauth=true` for delegation tokens). */
  readonly extensions: ReadonlyMap<string, string>;
}

export function parseClientFirst(message: string): ClientFirstMessage {
  // gs2-header = gs2-cbind-flag "," [ authzid ] ","
  const m = /^([nyp][^,]*),(a=[^,]*)?,(.*)$/s.exec(message);
  if (m === null) throw new ScramError('invalid client-first message: no gs2 header');
  const [, cbind, authzid, bare] = m;
  if (cbind !== 'n' && cbind !== 'y') throw new ScramError('channel binding is not supported');
  const attrs = parseAttributes(bare, 'client-first message');
  if (attrs.has('m')) throw new ScramError('mandatory extensions (m=) are not supported');
  const saslname = attrs.get('n');
  const nonce = attrs.get('r');
  if (saslname === undefined || saslname === '') throw new ScramError('invalid client-first message: no username');
  if (nonce === undefined || !PRINTABLE_NONCE.test(nonce)) throw new ScramError('invalid client-first message: bad nonce');
  const username = unescapeUsername(saslname);
  if (authzid !== undefined && unescapeUsername(authzid.slice(2)) !== username) {
    throw new ScramError('an authorization id different from the username is not supported');
  }
  const extensions = new Map([...attrs].filter(([k]) => k !== 'n' && k !== 'r'));
  return { gs2Header: message.slice(0, message.length - bare.length), username, nonce, bare, extensions };
}

// ---------------------------------------------------------------------------------------------------------------
// Server

export type ScramServerStep =
  | { readonly done: false; readonly response: Buffer }
  | { readonly done: true; readonly response: Buffer; readonly username: string };

export interface ScramServerOptions {
  readonly hash: ScramHash;
  /** The stored credentials of a user, or undefined when there is no such user. */
  readonly lookup: (username: string) => ScramCredential | undefined;
  /** Fixed server nonce part, for test vectors only. */
  readonly serverNonce?: string;
}

/**
 * One server-side SCRAM exchange: evaluate(client-first) → server-first, evaluate(client-final) → server-final.
 * Any failure throws ScramError; an unknown user fails at the same step as a wrong password, with the same
 * message, so the exchange does not tell which usernames exist.
 */
export class ScramServer {
  readonly #opts: ScramServerOptions;
  #state: 'first' | 'final' | 'done' = 'first';
  #clientFirst: ClientFirstMessage | null = null;
  #serverFirst = '';
  #nonce = '';
  #credential: ScramCredential | undefined;

  constructor(opts: ScramServerOptions) {
    this.#opts = opts;
  }

  evaluate(token: Buffer): ScramServerStep {
    const message = token.toString('utf8');
    if (this.#state === 'first') return this.#first(message);
    if (this.#state === 'final') return this.#final(message);
    throw new ScramError('the SCRAM exchange is already complete');
  }

  #first(message: string): ScramServerStep {
    const cf = parseClientFirst(message);
    if (cf.extensions.size > 0) throw new ScramError(`unsupported SCRAM extensions: ${[...cf.extensions.keys()].join(', ')}`);
    this.#clientFirst = cf;
    this.#credential = this.#opts.lookup(cf.username);
    // A made-up salt for unknown users: deterministic per name, so repeated probes see a stable answer.
    const salt = this.#credential?.salt ?? createHash('sha256').update(`kmp-unknown-user:${cf.username}`).digest().subarray(0, 16);
    const iterations = this.#credential?.iterations ?? SCRAM_DEFAULT_ITERATIONS;
    this.#nonce = cf.nonce + (this.#opts.serverNonce ?? newNonce());
    this.#serverFirst = `r=${this.#nonce},s=${salt.toString('base64')},i=${iterations}`;
    this.#state = 'final';
    return { done: false, response: Buffer.from(this.#serverFirst, 'utf8') };
  }

  #final(message: string): ScramServerStep {
    this.#state = 'done';
    const cf = this.#clientFirst as ClientFirstMessage;
    const proofAt = message.lastIndexOf(',p=');
    if (proofAt < 0) throw new ScramError('invalid client-final message: no proof');
    const withoutProof = message.slice(0, proofAt);
    const attrs = parseAttributes(withoutProof, 'client-final message');
    const channelBinding = attrs.get('c');
    if (channelBinding === undefined || decodeBase64(channelBinding, 'channel binding').toString('utf8') !== cf.gs2Header) {
      throw new ScramError('invalid client-final message: channel binding does not match the gs2 header');
    }
    if (attrs.get('r') !== this.#nonce) throw new ScramError('invalid client-final message: nonce mismatch');
    const proof = decodeBase64(message.slice(proofAt + 3), 'proof');
    const credential = this.#credential;
    const hash = this.#opts.hash;
    const authMessage = `${cf.bare},${this.#serverFirst},${withoutProof}`;
    if (credential === undefined || proof.length !== credential.storedKey.length) throw new ScramError('invalid credentials');
    const clientKey = xor(proof, hmac(hash, credential.storedKey, authMessage));
    if (!timingSafeEqual(h(hash, clientKey), credential.storedKey)) throw new ScramError('invalid credentials');
    const serverSignature = hmac(hash, credential.serverKey, authMessage);
    return { done: true, response: Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8'), username: cf.username };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Client

export interface ScramClientOptions {
  readonly hash: ScramHash;
  readonly username: string;
  readonly password: string;
  /** Fixed client nonce, for test vectors only. */
  readonly nonce?: string;
}

/** One client-side SCRAM exchange: first() → final(server-first) → verify(server-final). */
export class ScramClient {
  readonly #opts: ScramClientOptions;
  readonly #nonce: string;
  readonly #bare: string;
  #serverSignature: Buffer | null = null;

  constructor(opts: ScramClientOptions) {
    this.#opts = opts;
    this.#nonce = opts.nonce ?? newNonce();
    this.#bare = `n=${escapeUsername(opts.username)},r=${this.#nonce}`;
  }

  first(): Buffer {
    return Buffer.from(`n,,${this.#bare}`, 'utf8');
  }

  async final(serverFirst: Buffer): Promise<Buffer> {
    const message = serverFirst.toString('utf8');
    const attrs = parseAttributes(message, 'server-first message');
    if (attrs.has('e')) throw new ScramError(`server refused: ${attrs.get('e')}`);
    const nonce = attrs.get('r');
    const saltText = attrs.get('s');
    const iterations = Number(attrs.get('i'));
    if (nonce === undefined || !nonce.startsWith(this.#nonce) || nonce.length <= this.#nonce.length) {
      throw new ScramError('invalid server-first message: nonce does not extend the client nonce');
    }
    if (saltText === undefined) throw new ScramError('invalid server-first message: no salt');
    if (!Number.isInteger(iterations) || iterations < SCRAM_MIN_ITERATIONS || iterations > SCRAM_MAX_ITERATIONS) {
      throw new ScramError(`invalid server-first message: iteration count ${attrs.get('i')} outside ${SCRAM_MIN_ITERATIONS}..${SCRAM_MAX_ITERATIONS}`);
    }
    const hash = this.#opts.hash;
    const salted = await saltedPassword(hash, this.#opts.password, decodeBase64(saltText, 'salt'), iterations);
    const { clientKey, storedKey, serverKey } = keysFromSaltedPassword(hash, salted);
    const withoutProof = `c=${Buffer.from('n,,').toString('base64')},r=${nonce}`;
    const authMessage = `${this.#bare},${message},${withoutProof}`;
    const proof = xor(clientKey, hmac(hash, storedKey, authMessage));
    this.#serverSignature = hmac(hash, serverKey, authMessage);
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8');
  }

  /** Checks the server's signature: proves the server knew the credentials too. */
  verify(serverFinal: Buffer): void {
    const attrs = parseAttributes(serverFinal.toString('utf8'), 'server-final message');
    if (attrs.has('e')) throw new ScramError(`server refused: ${attrs.get('e')}`);
    const v = attrs.get('v');
    const expected = this.#serverSignature;
    if (v === undefined || expected === null) throw new ScramError('invalid server-final message');
    const got = decodeBase64(v, 'server signature');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw new ScramError('the server signature does not match');
  }
}
