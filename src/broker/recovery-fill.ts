/**
 * Recovery from a Redis history stream: the entries an XRANGE returned, this node's feed
 * brought up to them (gap fill), and the answer to a recovering subscriber cut from them.
 *
 * Why fill: this node's Sequencer knows a channel only as far as it delivered it. A channel it
 * did not follow (no local subscriber until this recovery) has no state here, or a stale one
 * from when it last did; the stream has the truth. Before answering, the entries past this
 * node's seq (of the same epoch: all of them, in order; of another incarnation, or with no
 * state here: the last one, which sets the state) are delivered into the Fanout like messages
 * from Pub/Sub. The answer then reports a seq the feed really holds, and live messages, which
 * this node now receives (it subscribed before the XRANGE), continue right after it.
 */
import type { HistoryRead } from './broker.js';
import { Payload } from '../protocol/payload.js';
import type { Fanout } from '../pubsub/fanout.js';
import type { ChannelState, Sequencer } from '../pubsub/sequencer.js';

/** One entry of a channel's stream (redis-script.ts: id `seq-0`, fields e, f, d). */
export interface StreamEntry {
  readonly seq: number;
  readonly epoch: number;
  readonly data: Payload;
}

/** What filling needs of the broker. */
export interface Filler {
  readonly fanout: Fanout;
  readonly sequencer: Sequencer;
  /** Hands one publication to the Fanout (echoes skipped); false when the ring has no room now. */
  deliver(channel: string, seq: number, epoch: number, data: Payload): boolean;
}

/** The channel's state only (nothing to replay): recovered:false. */
export function stateOnly(s: ChannelState | undefined): HistoryRead {
  return { seq: s?.seq ?? 0, epoch: s?.epoch ?? null, messages: null };
}

/**
 * The stream read (command and arguments) a history request needs. A replay: from the client's
 * own last message, or this node's if older (a node without state learns it). State only
 * (after < 0): this node's feed brought up to the stream — from its own next seq, or, with no
 * state here, the last entry alone (XREVRANGE … COUNT 1), which sets the state.
 */
export function historyRead(key: string, after: number, epoch: number, s: ChannelState | undefined): [string, ...Array<string | number>] {
  if (after < 0) return s === undefined ? ['xrevrange', key, '+', '-', 'COUNT', 1] : ['xrange', key, `${s.seq + 1}-0`, '+'];
  const start = Math.max(1, s !== undefined && s.epoch === epoch ? Math.min(after, s.seq) : after);
  return ['xrange', key, `${start}-0`, '+'];
}

/** XRANGE's (or XREVRANGE's) reply (buffers): [[id, [field, value, …]], …]; entries that do not parse are left out. */
export function readEntries(reply: unknown): StreamEntry[] {
  const out: StreamEntry[] = [];
  if (!Array.isArray(reply)) return out;
  for (const item of reply as unknown[]) {
    if (!Array.isArray(item) || item.length < 2 || !Array.isArray(item[1])) continue;
    const seq = parseInt(String(item[0]), 10);
    const fields = item[1] as Buffer[];
    let epoch = -1;
    let format = '';
    let data: Buffer | null = null;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const k = String(fields[i]);
      if (k === 'e') epoch = Number(String(fields[i + 1]));
      else if (k === 'f') format = String(fields[i + 1]);
      else if (k === 'd') data = fields[i + 1]!;
    }
    if (!Number.isSafeInteger(seq) || seq < 1 || !(epoch >= 0 && epoch <= 0xffffffff) || data === null || (format !== 'j' && format !== 'm')) continue;
    out.push({ seq, epoch, data: format === 'j' ? Payload.json(data.toString('utf8')) : Payload.msgpack(new Uint8Array(data)) });
  }
  return out;
}

/**
 * Brings the feed up to the stream's last entry, then cuts the messages after+1 … seq of
 * incarnation `epoch` from the entries (null: the stream does not hold them all; after < 0:
 * none wanted, the state only).
 */
export function fillAndCut(f: Filler, channel: string, after: number, epoch: number, entries: readonly StreamEntry[]): HistoryRead {
  const last = entries.at(-1);
  if (last !== undefined) {
    const s = f.sequencer.get(channel);
    const fill = s !== undefined && s.epoch === last.epoch ? entries.filter((e) => e.epoch === last.epoch && e.seq > s.seq) : [last];
    for (const e of fill) {
      if (f.deliver(channel, e.seq, e.epoch, e.data)) continue;
      f.fanout.closeWindow(channel);
      return stateOnly(f.sequencer.get(channel)); // no ring room: not now
    }
  }
  // after the fill: with --merge-ms its entries joined the channel's window, which must be in the ring before the answer
  f.fanout.closeWindow(channel);
  const s = f.sequencer.get(channel);
  if (after < 0 || s === undefined || s.epoch !== epoch) return stateOnly(s);
  if (after >= s.seq) return { seq: s.seq, epoch: s.epoch, messages: [] };
  const from = entries.findIndex((e) => e.seq === after + 1 && e.epoch === epoch);
  if (from < 0) return stateOnly(s);
  const messages: Payload[] = [];
  for (let i = from; i < entries.length && messages.length < s.seq - after; i++) {
    const e = entries[i]!;
    if (e.epoch !== epoch || e.seq !== after + 1 + messages.length) return stateOnly(s);
    messages.push(e.data);
  }
  return messages.length === s.seq - after ? { seq: s.seq, epoch: s.epoch, messages } : stateOnly(s);
}
