/**
 * Ring — a bounded, lock-free, single-producer / multi-consumer broadcast ring of
 * variable-length records in one SharedArrayBuffer. Every active consumer reads
 * every record (broadcast, not work sharing).
 *
 * Concurrency contract
 * --------------------
 *   writer:    exactly one thread (the producer) writes record bytes and WRITE_POS.
 *   readers:   consumer i writes only its own READ_POS(i) and SLEEPING(i).
 *   STATE(i):  DETACHED → ATTACHED by the producer thread only (attach), so the producer never
 *              races a consumer joining: a consumer always starts at the producer's local write
 *              position. The consumer brackets each batch it reads with ATTACHED → READING →
 *              ATTACHED (compareExchange), and may set DETACHED itself when it stops reading.
 *              The producer may cut a stalled consumer loose with ATTACHED → DETACHED
 *              (compareExchange): never while it is READING, so the bytes a consumer is reading
 *              can never be overwritten under it. A consumer that was cut loose finds
 *              DETACHED when it next tries to read, and must stop (it has lost records).
 *
 *       producer attach ──► ATTACHED ◄──── consumer leave ────┐
 *                           │      └── consumer enter ──► READING
 *        producer cut (CAS) │ consumer stop / producer detach of a gone consumer
 *                           ▼
 *                        DETACHED
 *
 *   Record bytes are written with plain stores, then published by Atomics.store(WRITE_POS)
 *   in flush(). Atomics are sequentially consistent in JS, so a consumer that reads
 *   WRITE_POS with Atomics.load sees every byte written before it (release/acquire).
 *   Symmetrically a consumer frees space with Atomics.store(READ_POS) after it is done
 *   with the bytes, and the producer reads READ_POS with Atomics.load before reusing them.
 *   The STATE compareExchanges are full barriers on both sides: the consumer's reads of a
 *   batch happen before its leave, the producer's cut happens after it, and the producer
 *   writes over a cut consumer's records only after the cut.
 *
 *   Wake-up (no polling): a consumer going to sleep does
 *       w = load(WAKE(i)); store(SLEEPING(i), 1); if load(WRITE_POS) != readPos: don't sleep
 *       else waitAsync(WAKE(i), w)
 *   and the producer, after publishing WRITE_POS, does
 *       if load(SLEEPING(i)): store(SLEEPING(i), 0); add(WAKE(i), 1); notify(WAKE(i))
 *   Both sides store-then-load seq-cst, so either the consumer sees the new WRITE_POS or the
 *   producer sees SLEEPING = 1 — a wake-up is never lost. notify is paid once per flush and
 *   only for consumers that sleep (a futex wake: ~100 µs of the producer's time on these VMs).
 *
 * Positions are byte counters modulo 2^32 (stored in Int32 slots, read with >>> 0); the data
 * capacity is a power of two, so `pos & mask` is the offset and `(w - r) >>> 0` the fill.
 *
 *   data:  | hdr | payload ... | hdr | payload ... | WRAP pad ........ |
 *           hdr = [u32 payload length][u32 kind], payload starts 8-byte aligned,
 *           a record never straddles the end: the tail is skipped with a WRAP header.
 */

/**
 * Control block: WRITE_POS alone on the first 64-byte line; each consumer's fields together
 * on a line of their own, so consumers never share a cache line with each other.
 */
const LINE = 16; // Int32 slots per 64-byte cache line
const WRITE_POS = 0;
const consumerBase = (i: number): number => LINE * (1 + i);
const READ_POS = 0; // offsets inside a consumer's line
const STATE = 1;
const SLEEPING = 2;
const WAKE = 3;

/** Values of a consumer slot's STATE word (see the contract above). */
const DETACHED = 0;
const ATTACHED = 1;
const READING = 2;

export const RECORD_HEADER = 8;
const WRAP = 0xffffffff;
const ALIGN = 8;

export interface RingSpec {
  /** Data capacity in bytes: a power of two between 4 KiB and 1 GiB. */
  readonly capacity: number;
  /** How many consumer slots the ring has. */
  readonly maxConsumers: number;
  /**
   * Slots 0..attached-1 start attached at position 0 (default none). For a consumer that
   * exists before its producer starts: nothing is written yet, so there is no race.
   */
  readonly attached?: number;
}

export interface RingHandle {
  readonly sab: SharedArrayBuffer;
  readonly capacity: number;
  readonly maxConsumers: number;
}

export function createRing(spec: RingSpec): RingHandle {
  const { capacity, maxConsumers } = spec;
  if (!Number.isInteger(capacity) || capacity < 4096 || capacity > 2 ** 30 || (capacity & (capacity - 1)) !== 0) {
    throw new RangeError(`ring capacity must be a power of two between 4096 and 2^30 bytes, got ${capacity}`);
  }
  if (!Number.isInteger(maxConsumers) || maxConsumers < 1 || maxConsumers > 1024) {
    throw new RangeError(`ring maxConsumers must be an integer 1..1024, got ${maxConsumers}`);
  }
  const attached = spec.attached ?? 0;
  if (!Number.isInteger(attached) || attached < 0 || attached > maxConsumers) {
    throw new RangeError(`ring attached must be an integer 0..${maxConsumers}, got ${attached}`);
  }
  const sab = new SharedArrayBuffer(controlBytes(maxConsumers) + capacity);
  const ctl = new Int32Array(sab, 0, controlBytes(maxConsumers) / 4);
  for (let i = 0; i < attached; i++) ctl[consumerBase(i) + STATE] = ATTACHED;
  return { sab, capacity, maxConsumers };
}

function controlBytes(maxConsumers: number): number {
  return LINE * 4 * (1 + maxConsumers);
}

/** Largest payload a ring of this capacity accepts (a record must fit twice over). */
export function maxPayload(capacity: number): number {
  return capacity / 2 - RECORD_HEADER;
}

const align = (n: number): number => (n + (ALIGN - 1)) & ~(ALIGN - 1);

/** Ring bytes a record of `length` payload bytes takes (header and alignment included). */
export function recordSpace(length: number): number {
  return RECORD_HEADER + align(length);
}

class RingView {
  protected readonly ctl: Int32Array;
  /** Record bytes; offsets returned by the ring index into this array. */
  readonly bytes: Uint8Array;
  /** The same bytes as a Buffer, for fast string writes/reads. */
  readonly buf: Buffer;
  readonly words: Uint32Array;
  readonly f64: Float64Array;
  protected readonly mask: number;
  readonly capacity: number;

  constructor(readonly handle: RingHandle) {
    const ctlBytes = controlBytes(handle.maxConsumers);
    this.ctl = new Int32Array(handle.sab, 0, ctlBytes / 4);
    this.bytes = new Uint8Array(handle.sab, ctlBytes, handle.capacity);
    this.buf = Buffer.from(handle.sab, ctlBytes, handle.capacity);
    this.words = new Uint32Array(handle.sab, ctlBytes, handle.capacity / 4);
    this.f64 = new Float64Array(handle.sab, ctlBytes, handle.capacity / 8);
    this.capacity = handle.capacity;
    this.mask = handle.capacity - 1;
  }
}

/** The producer side. Not thread-safe: one producer thread per ring. */
export class RingProducer extends RingView {
  /** Local write position: ahead of WRITE_POS by what is reserved but not flushed. */
  private writePos: number;
  /** Free bytes known without re-reading consumers' positions. */
  private knownFree = 0;
  /**
   * Most bytes seen unread (by the slowest consumer) when the producer re-measured its room.
   * It re-measures whenever the room it knew of runs out, so the closer the ring comes to
   * full, the more often it looks: peaks near capacity are seen, small ones may be missed.
   */
  highWater = 0;

  constructor(handle: RingHandle) {
    super(handle);
    this.writePos = Atomics.load(this.ctl, WRITE_POS) >>> 0;
  }

  /**
   * Reserves a record of `length` payload bytes and `kind`; returns the payload's byte
   * offset in `bytes`, or -1 when the ring has no room (the caller decides the policy).
   * The record becomes visible to consumers at the next flush().
   */
  reserve(length: number, kind: number): number {
    const need = RECORD_HEADER + align(length);
    if (need > this.capacity / 2) throw new RangeError(`record of ${length} bytes exceeds ring limit ${maxPayload(this.capacity)}`);
    const off = this.writePos & this.mask;
    const span = this.span(off, need);
    if (!this.room(span)) return -1;
    let at = off;
    if (span > need) {
      this.words[at >>> 2] = WRAP;
      at = 0;
    }
    this.words[at >>> 2] = length;
    this.words[(at >>> 2) + 1] = kind;
    this.writePos = (this.writePos + span) >>> 0;
    this.knownFree -= span;
    return at + RECORD_HEADER;
  }

  /** Whether `length` payload bytes would fit now (same rule as reserve). */
  fits(length: number): boolean {
    const need = RECORD_HEADER + align(length);
    return need <= this.capacity / 2 && this.room(this.span(this.writePos & this.mask, need));
  }

  /** Ring bytes a record of `need` bytes takes at `off`: itself, plus the skipped tail if it must wrap. */
  private span(off: number, need: number): number {
    const tail = this.capacity - off;
    return tail < need ? tail + need : need;
  }

  /** Whether `bytes` of ring space are free now (re-reading consumers only when needed). */
  room(bytes: number): boolean {
    if (bytes <= this.knownFree) return true;
    this.knownFree = this.free();
    if (this.capacity - this.knownFree > this.highWater) this.highWater = this.capacity - this.knownFree;
    return bytes <= this.knownFree;
  }

  /** Free bytes, measured against the slowest active consumer. */
  free(): number {
    let used = 0;
    for (let i = 0; i < this.handle.maxConsumers; i++) {
      const base = consumerBase(i);
      if (Atomics.load(this.ctl, base + STATE) === DETACHED) continue;
      const r = Atomics.load(this.ctl, base + READ_POS) >>> 0;
      const u = (this.writePos - r) >>> 0;
      if (u > used) used = u;
    }
    return this.capacity - used;
  }

  /** Publishes everything reserved so far and wakes sleeping consumers (one notify each). */
  flush(): void {
    if ((Atomics.load(this.ctl, WRITE_POS) >>> 0) === this.writePos) return;
    Atomics.store(this.ctl, WRITE_POS, this.writePos | 0);
    for (let i = 0; i < this.handle.maxConsumers; i++) {
      const base = consumerBase(i);
      if (Atomics.load(this.ctl, base + SLEEPING) === 1) {
        Atomics.store(this.ctl, base + SLEEPING, 0);
        Atomics.add(this.ctl, base + WAKE, 1);
        Atomics.notify(this.ctl, base + WAKE);
      }
    }
  }

  /** Bytes consumer `i` has yet to read (0 for a detached slot): how far behind it is. */
  lag(i: number): number {
    const base = consumerBase(this.checkSlot(i));
    if (Atomics.load(this.ctl, base + STATE) === DETACHED) return 0;
    return (this.writePos - (Atomics.load(this.ctl, base + READ_POS) >>> 0)) >>> 0;
  }

  /** Consumer `i`'s read position (a stall watch compares it over time). */
  readPosition(i: number): number {
    return Atomics.load(this.ctl, consumerBase(this.checkSlot(i)) + READ_POS) >>> 0;
  }

  /** Whether slot `i` counts for free space. */
  attached(i: number): boolean {
    return Atomics.load(this.ctl, consumerBase(this.checkSlot(i)) + STATE) !== DETACHED;
  }

  /** Unflushed bytes pending (for tests and flush scheduling). */
  get pending(): number {
    return (this.writePos - (Atomics.load(this.ctl, WRITE_POS) >>> 0)) >>> 0;
  }

  /**
   * Makes consumer slot `i` active, starting at the producer's current position, so it
   * reads every record reserved from now on. Called on the producer's thread only.
   */
  attach(i: number): void {
    const base = consumerBase(this.checkSlot(i));
    Atomics.store(this.ctl, base + READ_POS, this.writePos | 0);
    Atomics.store(this.ctl, base + SLEEPING, 0);
    Atomics.store(this.ctl, base + STATE, ATTACHED);
  }

  /**
   * Stops counting slot `i` for free space: its consumer is gone (its thread exited), so
   * nothing can be reading. Producer thread only.
   */
  detach(i: number): void {
    Atomics.store(this.ctl, consumerBase(this.checkSlot(i)) + STATE, DETACHED);
    this.knownFree = 0; // recompute on next reserve
  }

  /**
   * Cuts a live but stalled consumer loose so it no longer holds space: succeeds only while
   * it is between batches (ATTACHED), never in the middle of reading one. The consumer
   * finds out when it next tries to read. Returns whether the slot was cut.
   */
  cut(i: number): boolean {
    const base = consumerBase(this.checkSlot(i));
    if (Atomics.compareExchange(this.ctl, base + STATE, ATTACHED, DETACHED) !== ATTACHED) return false;
    this.knownFree = 0;
    return true;
  }

  private checkSlot(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.handle.maxConsumers) throw new RangeError(`no consumer slot ${i}`);
    return i;
  }
}

/** A consumer side: owns slot `index`, which the producer must have attached. */
export class RingConsumer extends RingView {
  private readPos: number;
  private readonly base: number;
  /** Payload length and kind of the record last returned by next(). */
  length = 0;
  kind = 0;

  constructor(handle: RingHandle, index: number) {
    super(handle);
    if (!Number.isInteger(index) || index < 0 || index >= handle.maxConsumers) throw new RangeError(`no consumer slot ${index}`);
    this.base = consumerBase(index);
    this.readPos = Atomics.load(this.ctl, this.base + READ_POS) >>> 0;
  }

  /**
   * Starts a batch: records returned by next() until leave() cannot be overwritten, even by
   * a producer that wants this slot cut loose. False when the slot is detached: this
   * consumer was cut loose (or stopped) and must read no more.
   */
  enter(): boolean {
    return Atomics.compareExchange(this.ctl, this.base + STATE, ATTACHED, READING) === ATTACHED;
  }

  /** Ends a batch (after release()): the producer may cut this slot loose again. */
  leave(): void {
    Atomics.compareExchange(this.ctl, this.base + STATE, READING, ATTACHED);
  }

  /** The consumer stops reading for good: its slot no longer holds space. */
  detachSelf(): void {
    Atomics.store(this.ctl, this.base + STATE, DETACHED);
  }

  /**
   * Returns the payload offset of the next record (and sets length/kind), or -1 if the ring
   * is empty. The bytes stay valid until release(); call release() once per batch, inside
   * enter()/leave() when the producer may cut consumers loose.
   */
  next(): number {
    // Empty unless WRITE_POS is ahead: after attach() during an unflushed batch, readPos
    // starts ahead of WRITE_POS (lag never exceeds capacity <= 2^30, so the sign is exact).
    if (((Atomics.load(this.ctl, WRITE_POS) - this.readPos) | 0) <= 0) return -1;
    let at = this.readPos & this.mask;
    let len = this.words[at >>> 2]!;
    if (len === WRAP) {
      this.readPos = (this.readPos + (this.capacity - at)) >>> 0;
      at = 0;
      len = this.words[0]!;
    }
    this.length = len;
    this.kind = this.words[(at >>> 2) + 1]!;
    this.readPos = (this.readPos + RECORD_HEADER + align(len)) >>> 0;
    return at + RECORD_HEADER;
  }

  /** Hands the bytes read so far back to the producer. */
  release(): void {
    Atomics.store(this.ctl, this.base + READ_POS, this.readPos | 0);
  }

  /** Bytes flushed by the producer and not released by this consumer yet (ring occupancy, for metrics). */
  get unread(): number {
    return Math.max(0, (Atomics.load(this.ctl, WRITE_POS) - (Atomics.load(this.ctl, this.base + READ_POS) >>> 0)) | 0);
  }

  /** Whether records are waiting. */
  get available(): boolean {
    return ((Atomics.load(this.ctl, WRITE_POS) - this.readPos) | 0) > 0;
  }

  /**
   * Goes to sleep until the producer flushes. Resolves at once when records are already
   * waiting. Call release() first. A pending waitAsync does not keep an event loop alive.
   */
  sleep(): Promise<unknown> | null {
    const wakeIdx = this.base + WAKE;
    const w = Atomics.load(this.ctl, wakeIdx);
    Atomics.store(this.ctl, this.base + SLEEPING, 1);
    if (this.available) {
      Atomics.store(this.ctl, this.base + SLEEPING, 0);
      return null;
    }
    const r = Atomics.waitAsync(this.ctl, wakeIdx, w);
    return r.async ? r.value : null;
  }
}
