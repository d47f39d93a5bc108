/**
 * Per-address tables: the address key (IPv4, IPv6 /64, IPv4-mapped IPv6), IpTable (open
 * connections per address) and HandshakeLimiter (handshake rate per address), alone and
 * hammered by real worker threads at once, as shards do.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HandshakeLimiter, UNTRACKED as RATE_UNTRACKED } from '../src/limits/handshake-limiter.js';
import { ipKey, ipKeyText } from '../src/limits/ip-key.js';
import { MAX_WORDS, MIN_WORDS, createIpSlots, createIpTables, ipSlotsWords } from '../src/limits/ip-slots.js';
import { IpTable, REFUSED, UNTRACKED } from '../src/limits/ip-table.js';
import type { ConnectionsDone, ConnectionsJob, HandshakesDone, HandshakesJob } from './fixtures/ip-table-worker.js';
import { mulberry32 } from './fixtures/prng.js';
import { withWorkers, type Message } from './fixtures/workers.js';

const SEEDS = [0x1234567, -0x2345678, 0x3456789] as const;

/** An address as uWS gives it: 4 bytes for IPv4, 16 for IPv6 (from 8 groups). */
function v4(a: number, b: number, c: number, d: number): ArrayBuffer {
  return new Uint8Array([a, b, c, d]).buffer;
}
function v6(...groups: number[]): ArrayBuffer {
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out.buffer;
}
const mapped = (a: number, b: number, c: number, d: number): ArrayBuffer => v6(0, 0, 0, 0, 0, 0xffff, (a << 8) | b, (c << 8) | d);

describe('ipKey', () => {
  test('an IPv4 address is its own key, whether it arrives as 4 bytes or IPv4-mapped IPv6', () => {
    assert.deepEqual([...ipKey(v4(127, 0, 0, 1))], [127, 0, 0, 1]);
    assert.deepEqual(ipKey(mapped(127, 0, 0, 1)), ipKey(v4(127, 0, 0, 1)));
    assert.deepEqual(ipKey(mapped(192, 0, 2, 7)), ipKey(new Uint8Array([192, 0, 2, 7])));
    assert.equal(ipKeyText(ipKey(mapped(192, 0, 2, 7))), '192.0.2.7');
  });

  test('IPv6 addresses are grouped by their /64', () => {
    const a = ipKey(v6(0x2001, 0xdb8, 0, 1, 0, 0, 0, 5));
    const b = ipKey(v6(0x2001, 0xdb8, 0, 1, 0xffff, 0xffff, 0xffff, 0xffff));
    const other = ipKey(v6(0x2001, 0xdb8, 0, 2, 0, 0, 0, 5));
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, other);
    assert.equal(ipKeyText(a), '2001:db8:0:1::/64');
    assert.equal(ipKeyText(ipKey(v6(0, 0, 0, 0, 0, 0, 0, 1))), '0:0:0:0::/64');
  });

  test('a key does not keep the address buffer it came from', () => {
    const raw = new Uint8Array(v4(10, 0, 0, 1));
    const key = ipKey(raw);
    raw[3] = 2;
    assert.equal(ipKeyText(key), '10.0.0.1');
  });
});

describe('IpTable', () => {
  test('counts an address up to the limit, refuses the next, and lets one in after a close', () => {
    const table = new IpTable(createIpSlots(MIN_WORDS, SEEDS));
    const key = ipKey(v4(198, 51, 100, 1));
    const slots = [1, 2, 3].map(() => table.tryOpen(key, 3));
    assert.ok(slots.every((s) => s >= 0), `granted: ${slots.join(',')}`);
    assert.equal(new Set(slots).size, 1, 'one address, one word');
    assert.equal(table.count(key), 3);
    assert.equal(table.tryOpen(key, 3), REFUSED);
    table.close(slots[0]!);
    assert.equal(table.tryOpen(key, 3), slots[0]);
    assert.equal(table.tryOpen(key, 3), REFUSED);
    for (let i = 0; i < 3; i++) table.close(slots[0]!);
    assert.equal(table.count(key), 0);
    assert.equal(table.used(), 0, 'the word is freed with the last connection');
  });

  test('addresses are counted apart, except an IPv4 address and its mapped form, and one /64', () => {
    const table = new IpTable(createIpSlots(MIN_WORDS, SEEDS));
    assert.ok(table.tryOpen(ipKey(v4(203, 0, 113, 9)), 1) >= 0);
    assert.equal(table.tryOpen(ipKey(mapped(203, 0, 113, 9)), 1), REFUSED);
    assert.ok(table.tryOpen(ipKey(v4(203, 0, 113, 10)), 1) >= 0);
    assert.ok(table.tryOpen(ipKey(v6(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1)), 1) >= 0);
    assert.equal(table.tryOpen(ipKey(v6(0x2001, 0xdb8, 0, 1, 0xabcd, 0, 0, 2)), 1), REFUSED);
    assert.ok(table.tryOpen(ipKey(v6(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1)), 1) >= 0);
    // same leading bytes, different family: 203.0.113.9 vs cb00:7109::/64
    assert.ok(table.tryOpen(ipKey(v6(0xcb00, 0x7109, 0, 0, 0, 0, 0, 1)), 1) >= 0);
    assert.equal(table.used(), 5);
  });

  test('an address with no free word among its 16 is let through untracked, and gets one once a word frees', () => {
    // two lines: every address has the same 16 candidate words
    const table = new IpTable(createIpSlots(16, SEEDS));
    const slots: number[] = [];
    for (let i = 0; i < 16; i++) slots.push(table.tryOpen(ipKey(v4(10, 0, 0, i)), 5));
    assert.ok(slots.every((s) => s >= 0));
    assert.equal(table.used(), 16);
    const late = ipKey(v4(10, 0, 1, 0));
    assert.equal(table.tryOpen(late, 5), UNTRACKED);
    // an address already in the table still counts and refuses as usual
    assert.ok(table.tryOpen(ipKey(v4(10, 0, 0, 3)), 2) >= 0);
    assert.equal(table.tryOpen(ipKey(v4(10, 0, 0, 3)), 2), REFUSED);
    table.close(slots[7]!);
    assert.equal(table.tryOpen(late, 5), slots[7]);
  });

  test('closing a word that holds no connection is a bug and throws', () => {
    const table = new IpTable(createIpSlots(MIN_WORDS, SEEDS));
    assert.throws(() => table.close(5), /holds no connection/);
  });

  test('is sized at 4 words per connection, a power of two from 8 KiB to 32 MiB', () => {
    assert.equal(ipSlotsWords(1), MIN_WORDS);
    assert.equal(ipSlotsWords(100_000), 524_288);
    assert.equal(ipSlotsWords(131_072), 524_288);
    assert.equal(ipSlotsWords(131_073), 1_048_576);
    assert.equal(ipSlotsWords(10_000_000), MAX_WORDS);
    assert.equal(MAX_WORDS * 8, 32 * 1024 * 1024);
    assert.throws(() => createIpSlots(1000), /power of two/);
    const off = createIpTables({ maxConnections: 10, maxConnectionsPerIp: 0, maxHandshakesPerIp: 0 });
    assert.deepEqual(off, { connections: null, handshakes: null });
    const on = createIpTables({ maxConnections: 10, maxConnectionsPerIp: 2, maxHandshakesPerIp: 5 });
    assert.equal(new IpTable(on.connections!).size, MIN_WORDS);
    assert.notEqual(on.connections, on.handshakes);
  });

  test('a table full of distinct addresses (one connection each, --max-connections of them) fails none open', () => {
    const max = 20_000;
    const table = new IpTable(createIpSlots(ipSlotsWords(max), SEEDS));
    const next = mulberry32(7);
    const seen = new Set<number>();
    let untracked = 0;
    while (seen.size < max) {
      const a = next();
      if (seen.has(a)) continue;
      seen.add(a);
      if (table.tryOpen(ipKey(new Uint8Array([a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255])), 1) === UNTRACKED) untracked++;
    }
    assert.equal(untracked, 0);
    assert.equal(table.used(), max);
  });
});

describe('IpTable under threads', { timeout: 60_000 }, () => {
  async function hammer(words: number, addresses: number[][], max: number, keep: number, threads: number, ops: number) {
    const sab = createIpSlots(words, SEEDS);
    const held = new Int32Array(new SharedArrayBuffer(4 * addresses.length));
    const go = new Int32Array(new SharedArrayBuffer(4));
    let results: ConnectionsDone[] = [];
    await withWorkers(async (start) => {
      const workers = Array.from({ length: threads }, (_, i) => {
        const job: ConnectionsJob = { mode: 'connections', sab, seed: 100 + i, ops, max, addresses, keep, held, go };
        return start('ip-table-worker', job);
      });
      for (const w of workers) await w.receive<Message>('ready', 10_000);
      Atomics.store(go, 0, 1);
      Atomics.notify(go, 0);
      results = await Promise.all(workers.map((w) => w.receive<ConnectionsDone & Message>('done', 50_000)));
    });
    const table = new IpTable(sab);
    return { results, table, held: [...held] };
  }

  test('threads opening and closing on one address never get past the limit together, and end at zero', async () => {
    const max = 8;
    const addr = [192, 0, 2, 1];
    const { results, table, held } = await hammer(MIN_WORDS, [addr], max, 6, 3, 200_000);
    for (const r of results) {
      assert.ok(r.worstOver <= 0, `a thread saw ${r.worstOver} connections over the limit`);
      assert.ok(r.granted > 0);
      assert.equal(r.untracked, 0);
    }
    assert.ok(results.reduce((n, r) => n + r.refused, 0) > 0, 'the threads met at the limit (refusals happened)');
    assert.deepEqual(held, [0]);
    assert.equal(table.count(ipKey(new Uint8Array(addr))), 0);
    assert.equal(table.used(), 0, 'every word is free again');
  });

  test('threads on many addresses sharing two lines stay within the documented race bound and end at zero', async (t) => {
    // 12 addresses in 16 words: words are claimed and freed all the time, the case where a
    // new address's first connections may land in two words at once (see src/limits/ip-table.ts)
    const threads = 3;
    const max = 3;
    const addresses = Array.from({ length: 12 }, (_, i) => [10, 9, 8, i]);
    const { results, table, held } = await hammer(16, addresses, max, 2, threads, 200_000);
    const worst = Math.max(...results.map((r) => r.worstOver));
    t.diagnostic(`most connections of one address over the limit: ${Math.max(0, worst)}; untracked: ${results.reduce((n, r) => n + r.untracked, 0)}`);
    assert.ok(worst <= threads - 1, `over the limit by ${worst}, more than shards - 1 = ${threads - 1}`);
    assert.ok(results.every((r) => r.granted > 0 && r.refused > 0));
    assert.deepEqual(held, addresses.map(() => 0));
    for (const a of addresses) assert.equal(table.count(ipKey(new Uint8Array(a))), 0);
    assert.equal(table.used(), 0, 'every word is free again');
  });
});

describe('HandshakeLimiter', () => {
  const S = 1_000_000; // µs

  test('admits a burst back to back, then one per interval, and says how long to wait', () => {
    const limiter = new HandshakeLimiter(createIpSlots(MIN_WORDS, SEEDS), 4, 3); // 250 ms per token
    const key = ipKey(v4(198, 51, 100, 2));
    const t = 5 * S;
    assert.equal(limiter.tokens(key, t, 3), 3);
    for (let i = 0; i < 3; i++) assert.equal(limiter.tryHandshake(key, t), 0, `handshake ${i + 1} of the burst`);
    assert.equal(limiter.tryHandshake(key, t), 250_000);
    assert.equal(limiter.tryHandshake(key, t + 100_000), 150_000, 'a refusal spends nothing');
    assert.equal(limiter.tryHandshake(key, t + 250_000), 0);
    assert.equal(limiter.tryHandshake(key, t + 250_001), 249_999);
    assert.equal(limiter.tokens(key, t + 2 * S, 3), 3, 'full again after a quiet second');
    for (let i = 0; i < 3; i++) assert.equal(limiter.tryHandshake(key, t + 2 * S), 0);
    assert.ok(limiter.tryHandshake(key, t + 2 * S) > 0);
  });

  test('buckets are per address key: other addresses are not slowed, the mapped form is the same address', () => {
    const limiter = new HandshakeLimiter(createIpSlots(MIN_WORDS, SEEDS), 1, 1);
    const t = 9 * S;
    assert.equal(limiter.tryHandshake(ipKey(v4(203, 0, 113, 1)), t), 0);
    assert.equal(limiter.tryHandshake(ipKey(mapped(203, 0, 113, 1)), t), S);
    assert.equal(limiter.tryHandshake(ipKey(v4(203, 0, 113, 2)), t), 0);
    assert.equal(limiter.tryHandshake(ipKey(v6(0x2001, 0xdb8, 0, 7, 0, 0, 0, 1)), t), 0);
    assert.equal(limiter.tryHandshake(ipKey(v6(0x2001, 0xdb8, 0, 7, 1, 2, 3, 4)), t), S);
  });

  test('keeps counting right across the wrap of its 40-bit clock, and a word from a lap ago is a full bucket', () => {
    const limiter = new HandshakeLimiter(createIpSlots(MIN_WORDS, SEEDS), 10, 2); // 100 ms per token
    const key = ipKey(v4(192, 0, 2, 77));
    const lap = 2 ** 40;
    const t = 3 * lap - 50_000; // 50 ms before the wrap
    assert.equal(limiter.tryHandshake(key, t), 0);
    assert.equal(limiter.tryHandshake(key, t), 0);
    assert.equal(limiter.tryHandshake(key, t + 60_000), 40_000, 'after the wrap: TAT is 200 ms past t');
    assert.equal(limiter.tryHandshake(key, t + 100_000), 0);
    // about 2^40 µs (12.7 days) of silence later, the word's TAT read modulo 2^40 is seconds
    // ahead of now: more than any admission sets, so it is a stale word, a full bucket
    const later = t + lap - 5 * S;
    assert.equal(limiter.tokens(key, later, 2), 2);
    assert.equal(limiter.tryHandshake(key, later), 0);
    assert.equal(limiter.tryHandshake(key, later), 0);
    assert.ok(limiter.tryHandshake(key, later) > 0);
  });

  test('an address with no free word is admitted untracked; a full bucket of another address frees its word', () => {
    const limiter = new HandshakeLimiter(createIpSlots(16, SEEDS), 1, 1);
    const t = 20 * S;
    for (let i = 0; i < 16; i++) assert.equal(limiter.tryHandshake(ipKey(v4(10, 1, 0, i)), t), 0);
    const late = ipKey(v4(10, 1, 1, 0));
    assert.equal(limiter.tryHandshake(late, t), RATE_UNTRACKED);
    assert.equal(limiter.tryHandshake(late, t + S), 0, 'a second later every bucket is full: its word is taken over');
    assert.equal(limiter.tryHandshake(late, t + S), S);
    assert.equal(limiter.used(), 16);
  });

  test('refuses settings its clock cannot hold', () => {
    const sab = createIpSlots(MIN_WORDS, SEEDS);
    assert.throws(() => new HandshakeLimiter(sab, 0, 1), RangeError);
    assert.throws(() => new HandshakeLimiter(sab, 1, 0), RangeError);
    assert.doesNotThrow(() => new HandshakeLimiter(sab, 1, 100_000)); // the widest the options allow
  });

  test('threads hammering one address together admit exactly the burst plus the rate, no more', { timeout: 60_000 }, async (t) => {
    const rate = 2000;
    const burst = 100;
    const sab = createIpSlots(MIN_WORDS, SEEDS);
    const go = new Int32Array(new SharedArrayBuffer(4));
    let results: HandshakesDone[] = [];
    await withWorkers(async (start) => {
      const workers = Array.from({ length: 3 }, () => {
        const job: HandshakesJob = { mode: 'handshakes', sab, rate, burst, address: [192, 0, 2, 200], durationUs: 300_000, go };
        return start('ip-table-worker', job);
      });
      for (const w of workers) await w.receive<Message>('ready', 10_000);
      Atomics.store(go, 0, 1);
      Atomics.notify(go, 0);
      results = await Promise.all(workers.map((w) => w.receive<HandshakesDone & Message>('done', 30_000)));
    });
    const admitted = results.reduce((n, r) => n + r.admitted, 0);
    const window = Math.max(...results.map((r) => r.last)) - Math.min(...results.map((r) => r.first));
    const most = burst + Math.floor((window * rate) / 1e6) + 1; // +1: µs rounding of TAT
    t.diagnostic(`admitted ${admitted} of at most ${most} in ${window} µs`);
    assert.ok(admitted <= most, `admitted ${admitted} in ${window} µs; at most ${most}`);
    assert.ok(admitted >= burst, `admitted ${admitted}, less than the burst`);
    assert.ok(results.every((r) => r.refused > 0 && r.untracked === 0));
  });
});
