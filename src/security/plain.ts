// SASL/PLAIN (RFC 4616) message parsing, with Kafka's rules (PlainSaslServer, docs/protocol-notes.md §g): exactly three
// NUL-separated UTF-8 fields `[authzid] NUL authcid NUL passwd`; username and password must not be empty; an
// authorization id, when given, must equal the username.
//
// kmp verifies PLAIN passwords against the user's SCRAM credentials (salted, never the password itself), so one
// credentials file serves both mechanisms.

export class PlainSaslError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlainSaslError';
  }
}

export interface PlainCredentials {
  readonly username: string;
  readonly password: string;
}

export function parsePlainMessage(token: Buffer): PlainCredentials {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(token);
  } catch {
    throw new PlainSaslError('Invalid SASL/PLAIN response: not UTF-8');
  }
  const fields = text.split('\u0000');
  if (fields.length !== 3) throw new PlainSaslError(`Invalid SASL/PLAIN response: expected 3 tokens, got ${fields.length}`);
  const [authzid, username, password] = fields;
  if (username === '') throw new PlainSaslError('Authentication failed: username not specified');
  if (password === '') throw new PlainSaslError('Authentication failed: password not specified');
  if (authzid !== '' && authzid !== username) {
    throw new PlainSaslError('Authentication failed: Client requested an authorization id that is different from username');
  }
  return { username, password };
}

/** The client's PLAIN message (upstream logins). */
export function encodePlainMessage(username: string, password: string): Buffer {
  return Buffer.from(`\u0000${username}\u0000${password}`, 'utf8');
}
