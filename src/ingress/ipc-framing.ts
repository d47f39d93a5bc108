/**
 * IPC framing — how local producers talk to the IPC socket. Each frame is a 4-byte
 * big-endian length followed by that many bytes of UTF-8 JSON. Requests:
 *   {"type":"publish","channel":C,"data":…,"id":"optional"}     (or "channels":[…])
 * Each request gets exactly one reply frame, in order:
 *   {"type":"ack","id":…,"seq":n}  or {"type":"ack","id":…,"seqs":{C:n,…}}
 *   {"type":"error","id":…,"code":<stable code>,"message":…}
 */
export const LENGTH_BYTES = 4;

export function encodeFrame(json: string): Buffer {
  const body = Buffer.from(json, 'utf8');
  const out = Buffer.allocUnsafe(LENGTH_BYTES + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, LENGTH_BYTES);
  return out;
}

export type Decoded = { kind: 'frame'; text: string } | { kind: 'oversized'; length: number };

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
      const len = data.readUInt32BE(0);
      if (len > this.maxFrame) {
        out.push({ kind: 'oversized', length: len });
        this.skip = len;
        data = data.subarray(LENGTH_BYTES);
        continue;
      }
      if (data.length < LENGTH_BYTES + len) break;
      out.push({ kind: 'frame', text: data.toString('utf8', LENGTH_BYTES, LENGTH_BYTES + len) });
      data = data.subarray(LENGTH_BYTES + len);
    }
    this.buf = data.length > 0 ? Buffer.from(data) : Buffer.alloc(0);
    return out;
  }
}
