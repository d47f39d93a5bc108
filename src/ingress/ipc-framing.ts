/**
 * IPC framing — how local producers talk to the IPC socket. Each frame is a 4-byte
 * big-endian length followed by that many bytes of body. The length's top bit says the
 * body's format: clear, UTF-8 JSON (every frame before formats existed); set, MessagePack
 * (the length is the low 31 bits). Each frame says its own format, so a connection needs no
 * hello and no state, and a reply is in the format of the request it answers. Requests:
 *   {"type":"publish","channel":C,"data":…,"id":"optional"}     (or "channels":[…], "user":U)
 * Each request gets exactly one reply frame, in order:
 *   {"type":"ack","id":…,"seq":n}  or {"type":"ack","id":…,"seqs":{C:n,…}}
 *   {"type":"error","id":…,"code":<stable code>,"message":…}
 * As MessagePack the same objects are maps with the same fields; `data` may hold binary.
 */
export const LENGTH_BYTES = 4;
/** Set in the length prefix of a MessagePack frame. */
export const MSGPACK_FLAG = 0x8000_0000;
const LENGTH_MASK = 0x7fff_ffff;

/** A frame: JSON text (a string) or MessagePack (bytes), told apart by the length's top bit. */
export function encodeFrame(body: string | Uint8Array): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  if (bytes.byteLength > LENGTH_MASK) throw new RangeError(`an IPC frame holds at most ${LENGTH_MASK} bytes`);
  const out = Buffer.allocUnsafe(LENGTH_BYTES + bytes.byteLength);
  out.writeUInt32BE(typeof body === 'string' ? bytes.byteLength : (bytes.byteLength | MSGPACK_FLAG) >>> 0, 0);
  out.set(bytes, LENGTH_BYTES);
  return out;
}

export type Decoded =
  | { kind: 'json'; text: string }
  /** A view into the stream's bytes, not a copy: valid as long as the caller keeps it. */
  | { kind: 'msgpack'; bytes: Buffer }
  | { kind: 'oversized'; length: number; msgpack: boolean };

/**
 * Incremental decoder. A frame above `maxFrame` is reported once and its bytes skipped as
 * they arrive (never buffered), so one bad frame does not cost the stream.
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private skip = 0;

  constructor(private readonly maxFrame: number) {}

  /** Feeds bytes; returns the complete frames (and oversized notices) they finish. */
  push(chunk: Buffer): Decoded[] {
    const out: Decoded[] = [];
    let data = this.buf.length > 0 ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length);
        this.skip -= n;
        data = data.subarray(n);
        if (this.skip > 0) break;
      }
      if (data.length < LENGTH_BYTES) break;
      const prefix = data.readUInt32BE(0);
      const msgpack = prefix >= MSGPACK_FLAG;
      const len = prefix & LENGTH_MASK;
      if (len > this.maxFrame) {
        out.push({ kind: 'oversized', length: len, msgpack });
        this.skip = len;
        data = data.subarray(LENGTH_BYTES);
        continue;
      }
      if (data.length < LENGTH_BYTES + len) break;
      // chunks are fresh buffers from the socket (and `buf` a copy), so a view of one stays valid
      if (msgpack) out.push({ kind: 'msgpack', bytes: data.subarray(LENGTH_BYTES, LENGTH_BYTES + len) });
      else out.push({ kind: 'json', text: data.toString('utf8', LENGTH_BYTES, LENGTH_BYTES + len) });
      data = data.subarray(LENGTH_BYTES + len);
    }
    this.buf = data.length > 0 ? Buffer.from(data) : Buffer.alloc(0);
    return out;
  }
}
