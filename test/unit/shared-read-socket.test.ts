// Plain-TCP client connections read into one shared buffer (src/proxy/shared-read-socket.ts) and their frames come
// from the recycled pool (frame-pool.ts): with several connections writing large and small requests in odd-sized
// pieces at once, and every frame given back as soon as it is handled, each handler still sees exactly the bytes its
// client sent, in its client's order.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import pino from 'pino';
import { ProxyListener } from '../../src/proxy/listener.ts';
import { CLIENT_FRAMES } from '../../src/proxy/frame-pool.ts';
import type { Handler } from '../../src/proxy/handler.ts';

const listeners: ProxyListener[] = [];
after(async () => {
  await Promise.all(listeners.map((l) => l.close(50)));
});

const digest = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

/** A request frame: size, header v1 (api key 0, version 0, correlation id, null client id), then `body`. */
function request(correlationId: number, body: Buffer): Buffer {
  const h = Buffer.alloc(14);
  h.writeInt32BE(10 + body.length, 0);
  h.writeInt16BE(0, 4);
  h.writeInt16BE(0, 6);
  h.writeInt32BE(correlationId, 8);
  h.writeInt16BE(-1, 12);
  return Buffer.concat([h, body]);
}

test('frames read through the shared buffer and recycled memory carry exactly what each client sent', async () => {
  const seen = new Map<number, string[]>();
  const handler: Handler = (ctx, respond) => {
    const conn = ctx.connection.id;
    const list = seen.get(conn) ?? [];
    seen.set(conn, list);
    const slot = list.push('') - 1;
    // Read later, after more reads went through the shared buffer: the frame must be memory of its own.
    setImmediate(() => {
      list[slot] = `${ctx.header.correlationId}:${digest(ctx.frame.subarray(ctx.bodyOffset))}`;
      const answer = Buffer.alloc(8);
      answer.writeInt32BE(4, 0);
      answer.writeInt32BE(ctx.header.correlationId, 4);
      respond.send([answer]);
      ctx.frameDone?.(); // nothing refers to the frame any more: its memory serves the next one at once
    });
  };
  const listener = new ProxyListener({
    host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }),
    maxFrameBytes: 1 << 20, maxInflightRequestsPerConnection: 1000, maxConnections: 100,
    dispatch: () => handler,
  });
  listeners.push(listener);
  const { port } = await listener.listen();
  const reusedBefore = CLIENT_FRAMES.reused;

  const clients = 3;
  const perClient = 40;
  const expected: string[][] = [];
  const runs = Array.from({ length: clients }, async (_, c) => {
    const bodies = Array.from({ length: perClient }, (_, i) => crypto.randomBytes(i % 5 === 0 ? 10 + i : 5_000 + ((i * 7919 + c * 104_729) % 200_000)));
    expected[c] = bodies.map((b, i) => `${i}:${digest(b)}`);
    const stream = Buffer.concat(bodies.map((b, i) => request(i, b)));
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    let answered = 0;
    const done = new Promise<void>((resolve) => socket.on('data', (d: Buffer) => {
      answered += d.length / 8;
      if (answered === perClient) resolve();
    }));
    // Odd-sized pieces with pauses, so frames span reads and reads of different connections interleave.
    for (let off = 0, n = 0; off < stream.length; n++) {
      const piece = 1 + ((n * 48_271 + c * 17) % 90_000);
      socket.write(stream.subarray(off, off + piece));
      off += piece;
      if (n % 4 === 0) await new Promise((r) => setImmediate(r));
    }
    await done;
    socket.destroy();
  });
  await Promise.all(runs);
  const got = [...seen.values()].sort((a, b) => a[0].localeCompare(b[0]));
  assert.equal(got.length, clients);
  for (const list of got) {
    const match = expected.find((e) => e[0] === list[0]);
    assert.deepEqual(list, match, 'every frame of a connection intact and in order');
  }
  assert.ok(CLIENT_FRAMES.reused > reusedBefore, 'frames were served from recycled memory');
});
