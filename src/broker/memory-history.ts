/**
 * MemoryHistory — the memory broker's per-channel history: each channel's last messages of
 * its current incarnation, so that a subscriber that reconnects with `since` can be given
 * what it missed. Three bounds keep it finite whatever the traffic and the channel count:
 *
 * - --history-size: messages per channel (the oldest go first);
 * - --history-ttl: seconds a message is kept (expired ones are dropped when their channel
 *   is next written or read);
 * - --history-max-bytes: over all channels, data bytes plus ENTRY_OVERHEAD per message and
 *   CHANNEL_OVERHEAD per channel.
 *   Past it, the channel written least recently loses its oldest messages first: a quiet
 *   channel's history is worth less than a busy one's, and a flood of new channels cannot
 *   grow memory.
 *
 * The data is kept in the format it arrived in (JSON text or MessagePack), as bytes outside
 * the V8 heap, not as the Payload: a Payload caches its other format once a frame needs it,
 * which would double what is held.
 * Seqs within an incarnation are consecutive, so a channel's log is an array plus the seq of
 * its first entry; a new incarnation (another epoch) or a gap starts the log again.
 */
import { Payload } from '../protocol/payload.js';

/** Bytes counted per message beside its data: the array slots and their share of the log (an estimate). */
export const ENTRY_OVERHEAD = 48;
/**
 * Bytes counted per channel with history: its log, three arrays and its Map entry. Measured
 * (V8, Node 20): 400,000 messages of ~100 bytes over 100,000 channels took 1.85x the bytes
 * counted without it, 0.85–1.14x with it (3,000 and 100,000 channels, bound 32 MiB).
 */
export const CHANNEL_OVERHEAD = 288;

export interface HistoryLimits {
  /** Messages per channel; 0 = no history. */
  readonly size: number;
  /** Milliseconds a message is kept; 0 = no time limit. */
  readonly ttlMs: number;
  /** Data bytes + ENTRY_OVERHEAD per message, over all channels. */
  readonly maxBytes: number;
}

const EMPTY = new Uint8Array(0);

interface Log {
  readonly epoch: number;
  /** Seq of data[head]. */
  first: number;
  head: number;
  /** The data's bytes, outside the V8 heap (see append). */
  readonly data: Uint8Array[];
  /** Whether each message's data is JSON text (else MessagePack). */
  readonly json: boolean[];
  readonly bytes: number[];
  readonly at: number[];
}

export class MemoryHistory {
  /** Logs in the order their channels were last written (the least recent first). */
  private readonly logs = new Map<string, Log>();
  private totalBytes = 0;
  private totalMessages = 0;

  constructor(private readonly limits: HistoryLimits) {}

  get enabled(): boolean {
    return this.limits.size > 0;
  }

  /** Messages held over all channels. */
  get messages(): number {
    return this.totalMessages;
  }

  /** Bytes counted over all channels (data + ENTRY_OVERHEAD per message + CHANNEL_OVERHEAD per channel). */
  get bytes(): number {
    return this.totalBytes + this.logs.size * CHANNEL_OVERHEAD;
  }

  /** Records message `seq` of `channel`'s incarnation `epoch`. */
  append(channel: string, seq: number, epoch: number, data: Payload, now: number): void {
    if (!this.enabled) return;
    let log = this.logs.get(channel);
    if (log !== undefined) {
      this.logs.delete(channel); // re-inserted below: now the most recently written
      if (log.epoch !== epoch || log.first + log.data.length - log.head !== seq) {
        this.clear(log);
        log = undefined;
      }
    }
    log ??= { epoch, first: seq, head: 0, data: [], json: [], bytes: [], at: [] };
    this.logs.set(channel, log);
    const length = data.byteLength;
    const bytes = length + ENTRY_OVERHEAD;
    // held as bytes in a backing store of their own, not as a string on the V8 heap: every
    // message is kept past many scavenges and then dropped, and as strings a flood promoted
    // them to the old generation, whose growth stayed in RSS (Node 24 ended a flood at 447 MiB
    // against 219 without history); the copy is also what keeps no view of a larger buffer alive
    const held = Buffer.allocUnsafeSlow(length);
    data.copyTo(held, 0);
    log.data.push(held);
    log.json.push(!data.isMsgpack);
    log.bytes.push(bytes);
    log.at.push(now);
    this.totalBytes += bytes;
    this.totalMessages++;
    while (log.data.length - log.head > this.limits.size) this.shift(log);
    this.expire(log, now);
    while (this.bytes > this.limits.maxBytes && this.logs.size > 0) this.evictOldest();
  }

  /** The channel's incarnation ended (forgotten): its history goes with it. */
  drop(channel: string): void {
    const log = this.logs.get(channel);
    if (log === undefined) return;
    this.clear(log);
    this.logs.delete(channel);
  }

  /**
   * The messages after+1 … upTo of incarnation `epoch`, or null when the history cannot
   * give all of them: another incarnation, or the oldest message held is past after+1.
   */
  read(channel: string, after: number, epoch: number, upTo: number, now: number): Payload[] | null {
    if (after >= upTo) return [];
    const log = this.logs.get(channel);
    if (log === undefined || log.epoch !== epoch) return null;
    this.expire(log, now);
    const last = log.first + log.data.length - log.head - 1;
    if (after + 1 < log.first || upTo > last) return null;
    const out = new Array<Payload>(upTo - after);
    for (let s = after + 1, i = 0; s <= upTo; s++, i++) {
      const k = log.head + s - log.first;
      const held = log.data[k]!;
      out[i] = log.json[k] ? Payload.json(Buffer.from(held.buffer, held.byteOffset, held.byteLength).toString('utf8')) : Payload.msgpack(held);
    }
    return out;
  }

  private expire(log: Log, now: number): void {
    const ttl = this.limits.ttlMs;
    if (ttl === 0) return;
    while (log.head < log.data.length && now - log.at[log.head]! >= ttl) this.shift(log);
  }

  /** Drops the oldest message of the channel written least recently. */
  private evictOldest(): void {
    const oldest = this.logs.entries().next();
    if (oldest.done === true) return;
    const [channel, log] = oldest.value;
    this.shift(log);
    if (log.head === log.data.length) this.logs.delete(channel);
  }

  private shift(log: Log): void {
    this.totalBytes -= log.bytes[log.head]!;
    this.totalMessages--;
    log.data[log.head] = EMPTY;
    log.head++;
    log.first++;
    // compact now and then: each message is moved O(1) times on average
    if (log.head >= 64 && log.head * 2 >= log.data.length) {
      log.data.splice(0, log.head);
      log.json.splice(0, log.head);
      log.bytes.splice(0, log.head);
      log.at.splice(0, log.head);
      log.head = 0;
    }
  }

  private clear(log: Log): void {
    for (let i = log.head; i < log.data.length; i++) this.totalBytes -= log.bytes[i]!;
    this.totalMessages -= log.data.length - log.head;
    log.data.length = log.json.length = log.bytes.length = log.at.length = 0;
    log.head = 0;
  }
}
