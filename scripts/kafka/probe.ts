// A minimal, dependency-free Metadata probe used by the test-bed launcher to decide that a broker is
// really serving (not merely listening). It is deliberately hand-written and independent of protocol/,
// so that the test bed keeps working while the codec is being changed.
import net from 'node:net';

/** Sends Metadata v1 (all topics) and resolves with the number of brokers in the response. */
export function probeMetadata(host: string, port: number, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve, reject) => {
    const clientId = Buffer.from('kmp-probe');
    // header v1: apiKey int16, apiVersion int16, correlationId int32, clientId string; body: topics int32 -1 (= all)
    const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length + 4);
    let o = 0;
    o = body.writeInt16BE(3, o);
    o = body.writeInt16BE(1, o);
    o = body.writeInt32BE(4242, o);
    o = body.writeInt16BE(clientId.length, o);
    o += clientId.copy(body, o);
    body.writeInt32BE(-1, o);
    const size = Buffer.alloc(4);
    size.writeInt32BE(body.length);

    const socket = net.connect({ host, port });
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new Error(`no Metadata answer from ${host}:${port} in ${timeoutMs} ms`)), timeoutMs);
    function fail(err: Error): void {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    }
    socket.on('connect', () => socket.write(Buffer.concat([size, body])));
    socket.on('error', fail);
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4) return;
      const frameSize = received.readInt32BE(0);
      if (received.length < 4 + frameSize) return;
      clearTimeout(timer);
      socket.destroy();
      // response header v0: correlationId; body v1: brokers array first
      if (received.readInt32BE(4) !== 4242) return reject(new Error('correlation id mismatch in probe'));
      resolve(received.readInt32BE(8));
    });
  });
}
