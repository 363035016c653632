// ClientConnection on a real loopback socket (through a ProxyListener): a fatal frame stops the connection at its
// turn (nothing read after it is dispatched), a flood of bad frames logs one line, the global request-bytes
// budget pauses other connections until bytes are released, and a started frame must finish within its deadline.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pino from 'pino';
import { ProxyListener } from '../../src/proxy/listener.ts';
import type { Handler } from '../../src/proxy/handler.ts';
import { RequestMemoryBudget } from '../../src/proxy/request-memory-budget.ts';
import { RateLimitedLog } from '../../src/rate-limited-log.ts';
import { KafkaCodecError, KafkaCodecErrorCode } from '../../protocol/errors.ts';
import type { LimitName } from '../../src/security/events.ts';

const listeners: ProxyListener[] = [];
after(async () => {
  await Promise.all(listeners.map((l) => l.close(50)));
});

/** API keys of the test: 18 answers at once, 0 waits for `release()`, 1 throws a codec error (an undecodable body). */
const INSTANT = 18;
const HELD = 0;
const UNDECODABLE = 1;

interface Harness {
  port: number;
  dispatched: number[];
  lines: { msg: string; reason?: string; suppressed?: number }[];
  limits: LimitName[];
  /** Answers every held request. */
  release(): void;
  warnings: RateLimitedLog;
}

async function harness(opts: { memory?: RequestMemoryBudget; frameReadTimeoutMs?: number; maxFrameBytes?: number } = {}): Promise<Harness> {
  const dispatched: number[] = [];
  const lines: Harness['lines'] = [];
  const limits: LimitName[] = [];
  const held: (() => void)[] = [];
  const answer = (correlationId: number): Buffer[] => {
    const b = Buffer.alloc(8);
    b.writeInt32BE(4, 0);
    b.writeInt32BE(correlationId, 4);
    return [b];
  };
  const handler: Handler = (ctx, respond) => {
    dispatched.push(ctx.header.correlationId);
    if (ctx.header.requestApiKey === UNDECODABLE) throw new KafkaCodecError(KafkaCodecErrorCode.TRUNCATED, 'body cut short');
    if (ctx.header.requestApiKey === HELD) held.push(() => respond.send(answer(ctx.header.correlationId)));
    else respond.send(answer(ctx.header.correlationId));
  };
  const warnings = new RateLimitedLog({ burst: 10, intervalMs: 60_000 });
  const logger = pino({ level: 'warn' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  const listener = new ProxyListener({
    host: '127.0.0.1', port: 0, logger,
    maxFrameBytes: opts.maxFrameBytes ?? 1 << 20, maxInflightRequestsPerConnection: 1000, maxConnections: 1000,
    dispatch: () => handler,
    events: { limit: (l) => limits.push(l), refused: () => {}, authenticated: () => {}, authenticationFailed: () => {} },
    warnings,
    ...(opts.memory ? { memory: opts.memory } : {}),
    ...(opts.frameReadTimeoutMs !== undefined ? { frameReadTimeoutMs: opts.frameReadTimeoutMs } : {}),
  });
  listeners.push(listener);
  const { port } = await listener.listen();
  return { port, dispatched, lines, limits, release: () => held.splice(0).forEach((f) => f()), warnings };
}

/** A request frame: size, header v1 (key, version 0, correlation id, null client id), then `body`. */
function request(apiKey: number, correlationId: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(14);
  h.writeInt32BE(10 + body.length, 0);
  h.writeInt16BE(apiKey, 4);
  h.writeInt16BE(0, 6);
  h.writeInt32BE(correlationId, 8);
  h.writeInt16BE(-1, 12);
  return Buffer.concat([h, body]);
}

/** A frame whose 3-byte body cannot be a request header. */
const GARBAGE = Buffer.from([0, 0, 0, 3, 1, 2, 3]);

interface Peer {
  socket: net.Socket;
  answers: number[];
  closed: Promise<void>;
  isClosed(): boolean;
}

function connect(port: number): Promise<Peer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const answers: number[] = [];
    let buffered = Buffer.alloc(0);
    let isClosed = false;
    socket.on('data', (c) => {
      buffered = Buffer.concat([buffered, c]);
      while (buffered.length >= 8) {
        answers.push(buffered.readInt32BE(4));
        buffered = buffered.subarray(8);
      }
    });
    socket.on('error', () => {});
    const closed = new Promise<void>((r) => socket.once('close', () => {
      isClosed = true;
      r();
    }));
    socket.once('connect', () => resolve({ socket, answers, closed, isClosed: () => isClosed }));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('an undecodable header: requests before it are served, nothing after it is dispatched', async () => {
  const h = await harness();
  const peer = await connect(h.port);
  const behind = Array.from({ length: 100 }, (_, i) => request(INSTANT, 100 + i));
  peer.socket.write(Buffer.concat([request(INSTANT, 1), request(HELD, 2), GARBAGE, request(HELD, 3), ...behind]));
  await waitFor('the requests before the bad frame', () => h.dispatched.length === 2);
  await sleep(100);
  assert.equal(peer.isClosed(), false, 'the connection stays until the answers before the bad frame are written');
  h.release();
  await peer.closed;
  assert.deepEqual(h.dispatched, [1, 2], 'only the requests read before the bad frame were dispatched');
  assert.deepEqual(peer.answers, [1, 2], 'they were answered, nothing behind the bad frame was');
  const closing = h.lines.filter((l) => l.msg === 'closing client connection');
  assert.equal(closing.length, 1);
  assert.match(closing[0].reason ?? '', /undecodable request header/);
});

test('a request its handler cannot decode: the requests queued behind it are dropped', async () => {
  const h = await harness();
  const peer = await connect(h.port);
  // The held request makes the rest wait in the dispatch queue, so they are read before the failure happens.
  peer.socket.write(Buffer.concat([request(INSTANT, 1), request(UNDECODABLE, 2), request(INSTANT, 3), request(HELD, 4)]));
  await peer.closed;
  await sleep(50);
  assert.deepEqual(h.dispatched, [1, 2]);
  const closing = h.lines.filter((l) => l.msg === 'closing client connection');
  assert.equal(closing.length, 1);
  assert.match(closing[0].reason ?? '', /undecodable request api=1 v0: body cut short/);
});

test('5,000 garbage frames in one write: one log line, nothing dispatched', async () => {
  const h = await harness();
  const peer = await connect(h.port);
  peer.socket.write(Buffer.concat(Array.from({ length: 5000 }, () => GARBAGE)));
  await peer.closed;
  await sleep(50);
  assert.equal(h.dispatched.length, 0);
  assert.equal(h.lines.filter((l) => l.msg.startsWith('closing client connection')).length, 1);
});

test('many bad connections: warnings are rate-limited across connections, with a suppressed count', async () => {
  const h = await harness();
  const peers = await Promise.all(Array.from({ length: 30 }, () => connect(h.port)));
  for (const p of peers) p.socket.write(GARBAGE);
  await Promise.all(peers.map((p) => p.closed));
  await sleep(50);
  const closing = h.lines.filter((l) => l.msg === 'closing client connection');
  assert.equal(closing.length, 10, 'the burst of the rate limit, then silence');
  // At the end of the interval a summary reports how many were suppressed (flush() writes it now).
  h.warnings.flush();
  const summary = h.lines.filter((l) => l.suppressed !== undefined);
  assert.equal(summary.length, 1);
  assert.equal(summary[0].suppressed, 20);
  assert.match(summary[0].msg, /closing client connection \(20 similar lines suppressed\)/);
});

test('the request-bytes budget: other connections wait at a frame boundary until bytes are released', async () => {
  const memory = new RequestMemoryBudget(64 * 1024);
  const h = await harness({ memory });
  const big = await connect(h.port);
  const other = await connect(h.port);
  // A held request of 100 KiB: over the budget once its size is read, and until it is answered.
  const frame = request(HELD, 1, Buffer.alloc(100 * 1024));
  big.socket.write(frame.subarray(0, 1000));
  await waitFor('the announced frame to be charged', () => memory.usedBytes >= frame.length - 4);
  assert.ok(memory.exhausted);
  other.socket.write(request(INSTANT, 7));
  await sleep(150);
  assert.deepEqual(other.answers, [], 'a connection between frames is not read while the budget is used up');
  // The connection in the middle of its frame goes on reading it (its bytes are charged already).
  big.socket.write(frame.subarray(1000));
  await waitFor('the big frame to be dispatched', () => h.dispatched.includes(1));
  await sleep(100);
  assert.deepEqual(other.answers, [], 'still waiting: the big request is not answered yet');
  h.release();
  await waitFor('the waiting connection to be served', () => other.answers.includes(7));
  assert.deepEqual(big.answers, [1]);
  assert.ok(h.limits.includes('max_buffered_request_bytes'));
  big.socket.destroy();
  other.socket.destroy();
  await Promise.all([big.closed, other.closed]);
  await waitFor('every byte released', () => memory.usedBytes === 0);
});

test('a closed connection releases what it held, answered or not', async () => {
  const memory = new RequestMemoryBudget(1 << 20);
  const h = await harness({ memory });
  const peer = await connect(h.port);
  const frame = request(HELD, 1, Buffer.alloc(50_000));
  peer.socket.write(Buffer.concat([frame, frame.subarray(0, 2000)])); // one held request, one half-read frame
  await waitFor('both charged', () => memory.usedBytes >= 2 * (frame.length - 4));
  peer.socket.destroy();
  await waitFor('released after the close', () => memory.usedBytes === 0);
  h.release(); // the late answer must not release twice
  assert.equal(memory.usedBytes, 0);
});

test('a started frame must be completed within frameReadTimeoutMs', async () => {
  const h = await harness({ frameReadTimeoutMs: 200 });
  const slow = await connect(h.port);
  const started = Date.now();
  slow.socket.write(request(INSTANT, 1, Buffer.alloc(1000)).subarray(0, 100));
  await slow.closed;
  const took = Date.now() - started;
  assert.ok(took >= 190 && took < 1500, `closed after ${took} ms`);
  assert.ok(h.limits.includes('frame_read_timeout'));
  assert.match(h.lines.find((l) => l.msg === 'closing client connection')?.reason ?? '', /not completed within 200 ms \(96 of 1010 bytes read\)/);
  // Complete frames, however far apart, are never cut off.
  const steady = await connect(h.port);
  for (let i = 0; i < 3; i++) {
    steady.socket.write(request(INSTANT, 10 + i));
    await sleep(150);
  }
  assert.deepEqual(steady.answers, [10, 11, 12]);
  assert.equal(steady.isClosed(), false);
  steady.socket.destroy();
});
