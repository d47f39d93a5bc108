/**
 * Redis Cluster's hash slot of a key (CRC16/XMODEM of the key, or of its hash tag `{…}`, mod
 * 16384), as CLUSTER KEYSLOT computes it: the cluster broker groups a publish's channels by
 * slot (one script per slot) and finds the node that holds a channel without asking Redis.
 */
export const SLOTS = 16384;

const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let c = i << 8;
  for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
  TABLE[i] = c;
}

function crc16(b: Buffer, from: number, to: number): number {
  let crc = 0;
  for (let i = from; i < to; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ b[i]!) & 0xff]!;
  return crc;
}

/** The slot of `key` (its UTF-8 bytes; a non-empty `{tag}` decides when there is one). */
export function keySlot(key: string): number {
  // ASCII without braces (every channel name): no copy, the whole key is hashed
  let crc = 0;
  let i = 0;
  for (; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c > 0x7f || c === 0x7b || c === 0x7d) break;
    crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ c) & 0xff]!;
  }
  if (i === key.length) return crc % SLOTS;
  const b = Buffer.from(key, 'utf8');
  const open = b.indexOf(0x7b);
  if (open >= 0) {
    const close = b.indexOf(0x7d, open + 1);
    if (close > open + 1) return crc16(b, open + 1, close) % SLOTS;
  }
  return crc16(b, 0, b.length) % SLOTS;
}
