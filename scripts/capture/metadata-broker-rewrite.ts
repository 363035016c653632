// Rewrites the broker ports in a Metadata response (versions 0-13) so that clients keep talking to the capture
// relay instead of connecting to the broker they are told about. Hand-written, independent of protocol/.
//
// Only the port changes: the relay listens on the broker's host (127.0.0.1), so host strings keep their length
// and the frame keeps its size. The brokers array comes right after the response header (and throttle_time_ms):
//   v0-8  (header v0): [throttle_time_ms int32 (v3+)] int32 count, then per broker:
//                      node_id int32, host string (int16 len), port int32, rack nullable string (v1+)
//   v9-13 (header v1, flexible): header tagged fields, throttle_time_ms int32, uvarint count+1, then per broker:
//                      node_id int32, host compact string, port int32, rack compact nullable string, tagged fields

const FIRST_FLEXIBLE_VERSION = 9;

class Cursor {
  readonly buf: Buffer;
  off: number;
  constructor(buf: Buffer, off: number) {
    this.buf = buf;
    this.off = off;
  }
  int32(): number {
    const v = this.buf.readInt32BE(this.off);
    this.off += 4;
    return v;
  }
  int16(): number {
    const v = this.buf.readInt16BE(this.off);
    this.off += 2;
    return v;
  }
  uvarint(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.buf[this.off++];
      if (b === undefined) throw new Error('uvarint runs past the end of the frame');
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new Error('uvarint longer than 5 bytes');
  }
  skip(n: number): void {
    if (n < 0 || this.off + n > this.buf.length) throw new Error('field runs past the end of the frame');
    this.off += n;
  }
  /** Returns the string, or null for a null string. */
  string(flexible: boolean): string | null {
    const len = flexible ? this.uvarint() - 1 : this.int16();
    if (len < 0) return null;
    const s = this.buf.toString('utf8', this.off, this.off + len);
    this.skip(len);
    return s;
  }
  taggedFields(): void {
    const count = this.uvarint();
    for (let i = 0; i < count; i++) {
      this.uvarint(); // tag
      this.skip(this.uvarint());
    }
  }
}

export interface BrokerAddress {
  nodeId: number;
  host: string;
  port: number;
}

/**
 * Returns a copy of `frame` (a Metadata response without its size prefix) in which each broker port is replaced
 * by `newPort(broker)`, plus the brokers as the broker sent them.
 */
export function rewriteMetadataBrokerPorts(
  frame: Buffer,
  version: number,
  newPort: (broker: BrokerAddress) => number,
): { frame: Buffer; brokers: BrokerAddress[] } {
  if (version < 0 || version > 13) throw new Error(`Metadata v${version} is not supported by the capture relay`);
  const flexible = version >= FIRST_FLEXIBLE_VERSION;
  const out = Buffer.from(frame);
  const c = new Cursor(out, 4); // after correlation_id
  if (flexible) c.taggedFields();
  if (version >= 3) c.int32(); // throttle_time_ms
  const count = flexible ? c.uvarint() - 1 : c.int32();
  const brokers: BrokerAddress[] = [];
  for (let i = 0; i < count; i++) {
    const nodeId = c.int32();
    const host = c.string(flexible) ?? '';
    const portOffset = c.off;
    const port = c.int32();
    if (version >= 1) c.string(flexible); // rack
    if (flexible) c.taggedFields();
    const broker = { nodeId, host, port };
    brokers.push(broker);
    out.writeInt32BE(newPort(broker), portOffset);
  }
  return { frame: out, brokers };
}
