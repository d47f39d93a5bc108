/**
 * The Redis broker's one Lua script and the message it publishes. The script is the whole of
 * "one order per channel across nodes": Redis runs it atomically, so the seq it takes, the
 * history entry it appends and the message it publishes happen together and in one order
 * that every node sees.
 *
 * Keys per channel C (names are binary-safe in Redis; C is a checked channel name):
 *   shardcast:m:C  hash {seq, epoch}: the last seq given and the incarnation's epoch (one key,
 *                  so the two can only be lost together: a lost seq always means a new epoch)
 *   shardcast:h:C  stream: the channel's recent messages, id `seq-0`, fields e (epoch),
 *                  f (format) and d (data); bounded by MAXLEN ~
 * and the Pub/Sub channel `shardcast:C`, to which every node with local subscribers of C is
 * subscribed. On a Redis Cluster (--redis-cluster) C is written `{C}` in all three: a hash tag,
 * so the keys and the sharded Pub/Sub channel (SPUBLISH/SSUBSCRIBE) of one channel share a
 * slot and one script can still touch them all. Channel names cannot hold `{` or `}`
 * (protocol/messages.ts), so the tag is always the whole name.
 */
import { createHash } from 'node:crypto';

export const KEY_PREFIX = 'shardcast:';
/**
 * Where nodes tell each other to close a user's connections (POST /api/disconnect). It does
 * not start with KEY_PREFIX, so no channel's Pub/Sub name can be it. On a cluster it is a
 * sharded channel too (on the slot of its own name), so SPUBLISH's count is every node.
 */
export const DISCONNECT_CHANNEL = 'shardcast!disconnect';

/** How one kind of deployment (one Redis, or a Redis Cluster) names a channel's keys and Pub/Sub channel. */
export interface RedisNames {
  /** Sharded Pub/Sub (SSUBSCRIBE, SPUBLISH, `smessage`) and hash-tagged names: a Redis Cluster. */
  readonly sharded: boolean;
  meta(channel: string): string;
  history(channel: string): string;
  pubsub(channel: string): string;
  /** The channel whose Pub/Sub name `name` is (a Shardcast name is never shorter than KEY_PREFIX + 1). */
  channelOf(name: Buffer): string;
  /** The publish script for these names, and its SHA1 (what EVALSHA names it by). */
  readonly script: string;
  readonly sha: string;
}

function names(sharded: boolean): RedisNames {
  const open = sharded ? '{' : '';
  const close = sharded ? '}' : '';
  const script = publishScript(sharded ? 'SPUBLISH' : 'PUBLISH');
  return {
    sharded,
    meta: (c) => `${KEY_PREFIX}m:${open}${c}${close}`,
    history: (c) => `${KEY_PREFIX}h:${open}${c}${close}`,
    pubsub: (c) => `${KEY_PREFIX}${open}${c}${close}`,
    channelOf: (name) => name.toString('utf8', KEY_PREFIX.length + open.length, name.length - close.length),
    script,
    sha: createHash('sha1').update(script).digest('hex'),
  };
}

/** One Redis: plain names, classic Pub/Sub. */
export const CLASSIC_NAMES = names(false);
/** A Redis Cluster: hash-tagged names, sharded Pub/Sub. */
export const SHARDED_NAMES = names(true);

/**
 * KEYS: meta and history key of each channel, in order. ARGV: [1] data, [2] format letter
 * (`j` JSON text, `m` MessagePack), [3] history bound (MAXLEN ~), [4] a fresh random u32 for
 * a channel that starts a new incarnation, [5] expiry in ms (0 = none), [6..] the Pub/Sub
 * channel of each channel. Returns {seq1, epoch1, seq2, epoch2, …}.
 *
 * `#!lua` (no flags, Redis ≥ 7.0): a script that may write is refused *before it runs* when
 * Redis is out of memory, so a publish on several channels is never half done (a script
 * without the shebang would fail at its first write after the seq of an earlier channel was
 * already taken). On a cluster every key of one run is on one slot (the caller groups by slot).
 * A new incarnation (seq 1) drops the old stream so that ids stay `seq-0`.
 */
function publishScript(publish: 'PUBLISH' | 'SPUBLISH'): string {
  return `#!lua
local out = {}
local n = #KEYS / 2
for i = 1, n do
  local meta = KEYS[2 * i - 1]
  local hist = KEYS[2 * i]
  local seq = redis.call('HINCRBY', meta, 'seq', 1)
  local epoch = false
  if seq ~= 1 then epoch = redis.call('HGET', meta, 'epoch') end
  if not epoch then
    epoch = ARGV[4]
    redis.call('HSET', meta, 'epoch', epoch)
    if seq == 1 then redis.call('DEL', hist) end
  end
  local s = string.format('%d', seq)
  redis.call('XADD', hist, 'MAXLEN', '~', ARGV[3], s .. '-0', 'e', epoch, 'f', ARGV[2], 'd', ARGV[1])
  if ARGV[5] ~= '0' then
    redis.call('PEXPIRE', meta, ARGV[5])
    redis.call('PEXPIRE', hist, ARGV[5])
  end
  redis.call('${publish}', ARGV[5 + i], ARGV[2] .. s .. ':' .. epoch .. ':' .. ARGV[1])
  out[2 * i - 1] = seq
  out[2 * i] = tonumber(epoch)
end
return out
`;
}

/** A message as published on a channel's Pub/Sub channel. */
export interface WireMessage {
  readonly seq: number;
  readonly epoch: number;
  /** JSON text, or MessagePack bytes (exactly as published). */
  readonly data: string | Uint8Array;
}

const COLON = 0x3a;
const J = 0x6a;
const M = 0x6d;

/**
 * Reads `<f><seq>:<epoch>:<data>` (f: `j` or `m`). Null when it is not such a message (another
 * program publishing on our channel names): it is dropped and counted, never delivered.
 */
export function decodeMessage(b: Buffer): WireMessage | null {
  const f = b[0];
  if (f !== J && f !== M) return null;
  let i = 1;
  let seq = 0;
  for (; i < b.length && b[i] !== COLON; i++) {
    const d = b[i]! - 0x30;
    if (d < 0 || d > 9 || i > 16) return null;
    seq = seq * 10 + d;
  }
  let epoch = 0;
  for (i++; i < b.length && b[i] !== COLON; i++) {
    const d = b[i]! - 0x30;
    if (d < 0 || d > 9) return null;
    epoch = epoch * 10 + d;
  }
  if (i >= b.length || seq < 1 || epoch > 0xffffffff) return null;
  const start = i + 1;
  return { seq, epoch, data: f === J ? b.toString('utf8', start) : b.subarray(start) };
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}
