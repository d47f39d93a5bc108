/**
 * MemoryHistory, the memory broker's per-channel history, alone: its three bounds (messages per
 * channel, age, bytes over all channels with the channel written least recently losing first),
 * a new incarnation or a gap starting a channel's log again, and reads that can or cannot give
 * every message asked for.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHANNEL_OVERHEAD, ENTRY_OVERHEAD, MemoryHistory } from '../src/broker/memory-history.js';
import { Payload } from '../src/protocol/payload.js';

const data = (s: string): Payload => Payload.json(JSON.stringify(s));
const texts = (ps: readonly Payload[] | null): unknown[] | null => (ps === null ? null : ps.map((p) => JSON.parse(p.asJson()) as unknown));

/** Appends seqs from..to on `channel` (data "channel#seq") at time `now`. */
function fill(h: MemoryHistory, channel: string, from: number, to: number, epoch = 1, now = 0): void {
  for (let s = from; s <= to; s++) h.append(channel, s, epoch, data(`${channel}#${String(s).padStart(3, '0')}`), now);
}

describe('MemoryHistory', () => {
  it('keeps the last --history-size messages of a channel; reads inside them, refuses past them', () => {
    const h = new MemoryHistory({ size: 10, ttlMs: 0, maxBytes: 1 << 30 });
    fill(h, 'a', 1, 200);
    assert.equal(h.messages, 10);
    assert.deepEqual(texts(h.read('a', 195, 1, 200, 0)), ['a#196', 'a#197', 'a#198', 'a#199', 'a#200']);
    assert.deepEqual(texts(h.read('a', 190, 1, 200, 0))?.length, 10, 'exactly the ten held');
    assert.equal(h.read('a', 189, 1, 200, 0), null, 'seq 190 is gone');
    assert.deepEqual(h.read('a', 200, 1, 200, 0), [], 'up to date');
    assert.deepEqual(h.read('a', 250, 1, 200, 0), [], 'ahead: nothing to give');
    assert.equal(h.read('a', 195, 2, 200, 0), null, 'another epoch');
    assert.equal(h.read('b', 0, 1, 3, 0), null, 'no history');
    assert.equal(h.read('a', 195, 1, 201, 0), null, 'past what is held');
  });

  it('drops messages older than --history-ttl', () => {
    const h = new MemoryHistory({ size: 100, ttlMs: 1000, maxBytes: 1 << 30 });
    fill(h, 'a', 1, 5, 1, 0);
    fill(h, 'a', 6, 8, 1, 600);
    assert.deepEqual(texts(h.read('a', 0, 1, 8, 900))?.length, 8);
    assert.equal(h.read('a', 0, 1, 8, 1000), null, '1…5 expired at 1000');
    assert.deepEqual(texts(h.read('a', 5, 1, 8, 1000)), ['a#006', 'a#007', 'a#008']);
    assert.equal(h.messages, 3);
  });

  it('a new epoch, or a seq that does not follow, starts the log again; drop() forgets it', () => {
    const h = new MemoryHistory({ size: 100, ttlMs: 0, maxBytes: 1 << 30 });
    fill(h, 'a', 1, 5, 1);
    fill(h, 'a', 1, 2, 2);
    assert.equal(h.read('a', 0, 1, 5, 0), null);
    assert.deepEqual(texts(h.read('a', 0, 2, 2, 0)), ['a#001', 'a#002']);
    fill(h, 'a', 9, 9, 2); // a hole (3…8 never came): the log restarts at 9
    assert.equal(h.read('a', 2, 2, 9, 0), null);
    assert.deepEqual(texts(h.read('a', 8, 2, 9, 0)), ['a#009']);
    h.drop('a');
    assert.equal(h.messages, 0);
    assert.equal(h.bytes, 0);
  });

  it('--history-max-bytes: the channel written least recently loses its oldest messages first; the count matches what is held', () => {
    const one = ENTRY_OVERHEAD + data('a#001').byteLength; // every message of a and b is this long
    const h = new MemoryHistory({ size: 100, ttlMs: 0, maxBytes: 2 * CHANNEL_OVERHEAD + 30 * one });
    fill(h, 'a', 1, 20);
    fill(h, 'b', 1, 20); // 40 messages do not fit: a (written least recently) loses 1…10
    assert.ok(h.bytes <= 2 * CHANNEL_OVERHEAD + 30 * one);
    assert.equal(h.messages, 30);
    assert.equal(h.read('a', 0, 1, 20, 0), null);
    assert.deepEqual(texts(h.read('a', 10, 1, 20, 0))?.length, 10);
    assert.deepEqual(texts(h.read('b', 0, 1, 20, 0))?.length, 20, 'b, written last, is whole');
    fill(h, 'a', 21, 25); // now b is the least recent: it loses 1…5
    assert.equal(h.read('b', 0, 1, 20, 0), null);
    assert.deepEqual(texts(h.read('b', 5, 1, 20, 0))?.length, 15);
    // many channels: the bound holds whatever their number, emptied channels are let go
    for (let c = 0; c < 1000; c++) fill(h, `c${c}`, 1, 1);
    assert.ok(h.bytes <= 2 * CHANNEL_OVERHEAD + 30 * one, `${h.bytes} bytes`);
    assert.equal(h.read('a', 24, 1, 25, 0), null, 'the old channels went first');
  });

  it('--history-size 0: holds nothing', () => {
    const h = new MemoryHistory({ size: 0, ttlMs: 0, maxBytes: 1 << 30 });
    fill(h, 'a', 1, 5);
    assert.equal(h.enabled, false);
    assert.equal(h.messages, 0);
    assert.equal(h.read('a', 3, 1, 5, 0), null);
  });
});
