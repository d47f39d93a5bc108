/**
 * WindowArena — where open merge windows keep their messages: as bytes, appended to one
 * off-heap buffer per format, not as strings and arrays on the V8 heap.
 *
 * Why: a message held for the window (--merge-ms) outlives the young generation's scavenges
 * under a high publish rate, so V8 promotes it, and a flood promoted hundreds of MiB of dead
 * messages to the old generation (RSS stays up after the flood: the heap does not shrink). Here
 * the encoded message dies young (it is copied at once), and the bytes wait outside the heap.
 *
 * Windows share the arena, interleaved; each remembers its byte ranges (consecutive messages of
 * one channel coalesce into one range). All windows close together when the window timer fires,
 * and the arena is then empty again (reset); a message that does not fit makes the Fanout close
 * every window first. The buffers are allocated when merging first holds a message and are
 * sized like half the broadcast ring (more than every window's promised ring space can hold at
 * once), so pages become resident only as far as a burst fills them.
 */
import { putJsonFrame, type JsonFrame } from '../transport/records.js';

export class ArenaRegion {
  private buf: Buffer | null = null;
  used = 0;

  constructor(readonly capacity: number) {}

  get bytes(): Buffer {
    return (this.buf ??= Buffer.allocUnsafeSlow(this.capacity));
  }

  room(n: number): boolean {
    return this.used + n <= this.capacity;
  }

  /** Appends `separator` (a byte; -1: none) and a JSON frame; returns where it starts. */
  appendJson(separator: number, f: JsonFrame): number {
    const start = this.used;
    const b = this.bytes;
    if (separator >= 0) b[this.used++] = separator;
    this.used += putJsonFrame(b, this.used, f);
    return start;
  }

  /** Appends `separator` (-1: none) and `bytes`; returns where it starts. */
  appendBytes(separator: number, bytes: Uint8Array): number {
    const start = this.used;
    const b = this.bytes;
    if (separator >= 0) b[this.used++] = separator;
    b.set(bytes, this.used);
    this.used += bytes.byteLength;
    return start;
  }
}

export class WindowArena {
  readonly json: ArenaRegion;
  readonly msgpack: ArenaRegion;

  constructor(capacity: number) {
    this.json = new ArenaRegion(capacity);
    this.msgpack = new ArenaRegion(capacity);
  }

  /** Whether `jsonBytes` and `msgpackBytes` more fit (separators included by the caller). */
  fits(jsonBytes: number, msgpackBytes: number): boolean {
    return this.json.room(jsonBytes) && this.msgpack.room(msgpackBytes);
  }

  /** Every window has been written: the bytes are free again. */
  reset(): void {
    this.json.used = 0;
    this.msgpack.used = 0;
  }
}

/** A window's bytes in one region: ranges [start, end) flattened, in order. */
export class ArenaSlices {
  readonly ranges: number[] = [];
  /** Bytes in all ranges. */
  length = 0;

  constructor(readonly region: ArenaRegion) {}

  /** Records bytes [start, region.used) as the next piece (joining the last range when they touch). */
  took(start: number): void {
    const end = this.region.used;
    const n = this.ranges.length;
    if (n > 0 && this.ranges[n - 1] === start) this.ranges[n - 1] = end;
    else this.ranges.push(start, end);
    this.length += end - start;
  }
}
