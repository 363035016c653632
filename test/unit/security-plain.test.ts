// SASL/PLAIN message parsing with Kafka's rules (PlainSaslServer): three NUL-separated UTF-8 fields, non-empty
// username and password, an authorization id only if it equals the username.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PlainSaslError, encodePlainMessage, parsePlainMessage } from '../../src/security/plain.ts';

const msg = (s: string) => Buffer.from(s, 'utf8');

test('parses [authzid] NUL authcid NUL passwd', () => {
  assert.deepEqual(parsePlainMessage(msg('\u0000alice\u0000s3cret')), { username: 'alice', password: 's3cret' });
  assert.deepEqual(parsePlainMessage(msg('alice\u0000alice\u0000s3cret')), { username: 'alice', password: 's3cret' });
  // Passwords may contain anything but NUL, including separators of other formats and non-ASCII.
  assert.deepEqual(parsePlainMessage(msg('\u0000bob\u0000p=a,ss wörd:\u00e9')), { username: 'bob', password: 'p=a,ss wörd:\u00e9' });
});

test('round-trips the client encoding', () => {
  assert.deepEqual(parsePlainMessage(encodePlainMessage('kmp', 'pw')), { username: 'kmp', password: 'pw' });
});

test('rejects malformed messages with Kafka-like reasons', () => {
  const cases: [string | Buffer, RegExp][] = [
    ['alice\u0000secret', /expected 3 tokens, got 2/],
    ['\u0000alice\u0000secret\u0000extra', /expected 3 tokens, got 4/],
    ['', /expected 3 tokens, got 1/],
    ['\u0000\u0000secret', /username not specified/],
    ['\u0000alice\u0000', /password not specified/],
    ['eve\u0000alice\u0000secret', /authorization id that is different/],
    [Buffer.from([0, 0x61, 0, 0xff, 0xfe]), /not UTF-8/],
  ];
  for (const [input, reason] of cases) {
    assert.throws(() => parsePlainMessage(typeof input === 'string' ? msg(input) : input), (err: unknown) => err instanceof PlainSaslError && reason.test(err.message), String(input));
  }
});
