// Benchmark: decode + re-encode of a Produce request (16 partitions x 64 KiB record batches), the proxy's hot path.
//
//   node bench/codec-produce.ts [--seconds 3] [--versions 3,9,12]
//
// Reports MB/s of frame bytes. "decode" is decodeRequest alone; "decode+encode" also re-encodes to frame chunks
// (records appended by reference, as the proxy writes them with socket.cork/write); "...+concat" additionally
// flattens the chunks into one Buffer, to show what zero-copy output saves.

import { parseArgs } from 'node:util';
import { decodeRequest, encodeRequestFrame } from '../protocol/codec.ts';
import { ApiKey } from '../protocol/messages/index.ts';
import type { ProduceRequest } from '../protocol/messages/produce-request.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    versions: { type: 'string', default: '3,9,12' },
  },
});
const seconds = Number(values.seconds);
const versions = values.versions.split(',').map(Number);

const PARTITIONS = 16;
const BATCH_BYTES = 64 * 1024;

function produceFrame(version: number): Buffer {
  const request: ProduceRequest = {
    transactionalId: null,
    acks: -1,
    timeoutMs: 30_000,
    topicData: [
      {
        name: version < 13 ? 'bench-topic' : '',
        topicId: version < 13 ? '00000000-0000-0000-0000-000000000000' : '0123abcd-4567-89ef-fedc-ba9876543210',
        partitionData: Array.from({ length: PARTITIONS }, (_, index) => ({
          index,
          records: Buffer.alloc(BATCH_BYTES, index + 1),
        })),
      },
    ],
  };
  const chunks = encodeRequestFrame(
    { requestApiKey: ApiKey.Produce, requestApiVersion: version, correlationId: 1, clientId: 'bench' },
    request,
  );
  // One contiguous frame (without the size prefix), as FrameReader hands it out.
  return Buffer.concat(chunks).subarray(4);
}

function measure(label: string, frame: Buffer, step: () => void): void {
  // Warm up so that the JIT has optimized the codec before timing.
  for (let i = 0; i < 2000; i++) step();
  let iterations = 0;
  const deadline = performance.now() + seconds * 1000;
  const start = performance.now();
  while (performance.now() < deadline) {
    for (let i = 0; i < 200; i++) step();
    iterations += 200;
  }
  const elapsed = (performance.now() - start) / 1000;
  const mbps = (iterations * frame.length) / elapsed / 1e6;
  const perOp = (elapsed / iterations) * 1e6;
  console.log(`  ${label.padEnd(22)} ${mbps.toFixed(0).padStart(8)} MB/s  ${perOp.toFixed(2).padStart(7)} µs/request`);
}

console.log(
  `Produce request: ${PARTITIONS} partitions x ${BATCH_BYTES / 1024} KiB, ${seconds} s per measurement, Node ${process.version}`,
);
for (const version of versions) {
  const frame = produceFrame(version);
  console.log(`Produce v${version} (${(frame.length / 1024).toFixed(1)} KiB frame)`);
  let sink = 0;
  measure('decode', frame, () => {
    sink += decodeRequest(frame).header.correlationId;
  });
  measure('decode+encode', frame, () => {
    const req = decodeRequest(frame);
    sink += encodeRequestFrame(req.header, req.body).length;
  });
  measure('decode+encode+concat', frame, () => {
    const req = decodeRequest(frame);
    sink += Buffer.concat(encodeRequestFrame(req.header, req.body)).length;
  });
  if (sink === 0) console.log('(unreachable)');
}
