// SCRAM against the published test vectors (RFC 5802 §5 with SHA-1, RFC 7677 §3 with SHA-256) and, for
// SHA-512 (no RFC vector), an exchange with the same inputs computed independently with Python's hashlib/hmac.
// Both directions: kmp's client must produce the vector's proof, kmp's server must accept it and answer with the
// vector's server signature.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ScramClient, ScramError, ScramServer, createScramCredential, escapeUsername, parseClientFirst, unescapeUsername, verifyPassword,
  type ScramHash,
} from '../../src/security/scram.ts';

interface Vector {
  hash: ScramHash;
  cnonce: string;
  snonce: string;
  salt: string;
  proof: string;
  signature: string;
  storedKey: string;
  serverKey: string;
}

const VECTORS: Record<string, Vector> = {
  'RFC 5802 (SHA-1)': {
    hash: 'sha1', cnonce: 'fyko+d2lbbFgONRv9qkxdawL', snonce: '3rfcNHYJY1ZVvWVs7j', salt: 'QSXCR+Q6sek8bf92',
    proof: 'v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=', signature: 'rmF9pqV8S7suAoZWja4dJRkFsKQ=',
    storedKey: '6dlGYMOdZcOPutkcNY8U2g7vK9Y=', serverKey: 'D+CSWLOshSulAsxiupA+qs2/fTE=',
  },
  'RFC 7677 (SHA-256)': {
    hash: 'sha256', cnonce: 'rOprNGfwEbeRWgbNEkqO', snonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0', salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
    proof: 'dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', signature: '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
    storedKey: 'WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=', serverKey: 'wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=',
  },
  'SHA-512 (computed with Python hashlib)': {
    hash: 'sha512', cnonce: 'rOprNGfwEbeRWgbNEkqO', snonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0', salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
    proof: 'gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ==',
    signature: 'ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5ZxXnJq199RVG2rR7N7Zw==',
    storedKey: '6AAub3065EYRmyFpM2RNwqK+eGnrkYuEWbXn19LsEmBqzu8QaCXNc1FwpnX9NhH2hK/60dzj9DoO5DvVkOHbvg==',
    serverKey: 'jZHbYjC1aHh0/hKbxyBuGFjDrgjgKTT1esA7awWiKcRZ0o/0b1yWEebBeSVkkCFewf91nLDfKF24mvD5nmE6rA==',
  },
};

for (const [name, v] of Object.entries(VECTORS)) {
  const serverFirst = `r=${v.cnonce}${v.snonce},s=${v.salt},i=4096`;
  const clientFinal = `c=biws,r=${v.cnonce}${v.snonce},p=${v.proof}`;

  test(`${name}: stored credentials from the password`, () => {
    const c = createScramCredential(v.hash, 'pencil', { salt: Buffer.from(v.salt, 'base64'), iterations: 4096 });
    assert.equal(c.storedKey.toString('base64'), v.storedKey);
    assert.equal(c.serverKey.toString('base64'), v.serverKey);
  });

  test(`${name}: the client produces the vector's messages and accepts the server signature`, async () => {
    const client = new ScramClient({ hash: v.hash, username: 'user', password: 'pencil', nonce: v.cnonce });
    assert.equal(client.first().toString(), `n,,n=user,r=${v.cnonce}`);
    assert.equal((await client.final(Buffer.from(serverFirst))).toString(), clientFinal);
    client.verify(Buffer.from(`v=${v.signature}`));
    assert.throws(() => client.verify(Buffer.from(`v=${Buffer.alloc(Buffer.from(v.signature, 'base64').length).toString('base64')}`)), ScramError);
  });

  test(`${name}: the server answers the vector's messages and signs with the vector's signature`, () => {
    const credential = createScramCredential(v.hash, 'pencil', { salt: Buffer.from(v.salt, 'base64'), iterations: 4096 });
    const server = new ScramServer({ hash: v.hash, lookup: (u) => (u === 'user' ? credential : undefined), serverNonce: v.snonce });
    const first = server.evaluate(Buffer.from(`n,,n=user,r=${v.cnonce}`));
    assert.equal(first.done, false);
    assert.equal(first.response.toString(), serverFirst);
    const final = server.evaluate(Buffer.from(clientFinal));
    assert.equal(final.done, true);
    assert.equal(final.response.toString(), `v=${v.signature}`);
    assert.equal(final.done && final.username, 'user');
  });
}

test('server: a wrong password, an unknown user and a tampered nonce all fail with the same message', async () => {
  const credential = createScramCredential('sha512', 'right', { iterations: 4096 });
  const lookup = (u: string) => (u === 'alice' ? credential : undefined);
  for (const [user, password] of [['alice', 'wrong'], ['mallory', 'right']] as const) {
    const client = new ScramClient({ hash: 'sha512', username: user, password });
    const server = new ScramServer({ hash: 'sha512', lookup });
    const final = await client.final(server.evaluate(client.first()).response);
    assert.throws(() => server.evaluate(final), { name: 'ScramError', message: 'invalid credentials' });
  }
  const client = new ScramClient({ hash: 'sha512', username: 'alice', password: 'right' });
  const server = new ScramServer({ hash: 'sha512', lookup });
  const final = (await client.final(server.evaluate(client.first()).response)).toString();
  assert.throws(() => server.evaluate(Buffer.from(final.replace(/,r=([^,]+)/, ',r=$1x'))), /nonce mismatch/);
});

test('server: an unknown user gets a stable made-up salt (no enumeration by salt)', () => {
  const server = () => new ScramServer({ hash: 'sha256', lookup: () => undefined });
  const a = server().evaluate(Buffer.from('n,,n=ghost,r=abc')).response.toString();
  const b = server().evaluate(Buffer.from('n,,n=ghost,r=abc')).response.toString();
  assert.equal(a.replace(/^r=[^,]+/, ''), b.replace(/^r=[^,]+/, ''));
  assert.match(a, /,i=\d+$/);
});

test('client-first parsing: gs2 header, escaping, authzid, channel binding and extensions', () => {
  assert.equal(escapeUsername('a,b=c'), 'a=2Cb=3Dc');
  assert.equal(unescapeUsername('a=2Cb=3Dc'), 'a,b=c');
  assert.throws(() => unescapeUsername('a=4Fb'), ScramError);
  const m = parseClientFirst('n,,n=a=2Cb,r=xyz');
  assert.deepEqual([m.gs2Header, m.username, m.nonce, m.bare], ['n,,', 'a,b', 'xyz', 'n=a=2Cb,r=xyz']);
  assert.equal(parseClientFirst('n,a=bob,n=bob,r=1').username, 'bob');
  assert.throws(() => parseClientFirst('n,a=eve,n=bob,r=1'), /authorization id/);
  assert.throws(() => parseClientFirst('p=tls-unique,,n=bob,r=1'), /channel binding/);
  assert.throws(() => parseClientFirst('n,,r=1'), /no username/);
  assert.throws(() => parseClientFirst('n,,n=bob'), /nonce/);
  assert.throws(() => parseClientFirst('garbage'), ScramError);
  assert.equal(parseClientFirst('n,,n=bob,r=1,tokenauth=true').extensions.get('tokenauth'), 'true');
  const server = new ScramServer({ hash: 'sha256', lookup: () => undefined });
  assert.throws(() => server.evaluate(Buffer.from('n,,n=bob,r=1,tokenauth=true')), /unsupported SCRAM extensions: tokenauth/);
});

test('client: refuses a server nonce that does not extend its own, and too few or too many iterations', async () => {
  const mk = () => new ScramClient({ hash: 'sha256', username: 'u', password: 'p', nonce: 'abc' });
  await assert.rejects(mk().final(Buffer.from('r=zzz,s=QSXCR+Q6sek8bf92,i=4096')), /nonce/);
  await assert.rejects(mk().final(Buffer.from('r=abc,s=QSXCR+Q6sek8bf92,i=4096')), /nonce/);
  await assert.rejects(mk().final(Buffer.from('r=abcd,s=QSXCR+Q6sek8bf92,i=100')), /iteration/);
  await assert.rejects(mk().final(Buffer.from('r=abcd,s=QSXCR+Q6sek8bf92,i=99999999')), /iteration/);
  await assert.rejects(mk().final(Buffer.from('e=other-error')), /server refused/);
});

test('verifyPassword (SASL/PLAIN against SCRAM credentials)', async () => {
  const c = createScramCredential('sha256', 'sesame', { iterations: 4096 });
  assert.equal(await verifyPassword('sha256', c, 'sesame'), true);
  assert.equal(await verifyPassword('sha256', c, 'Sesame'), false);
  assert.equal(await verifyPassword('sha256', c, ''), false);
});
