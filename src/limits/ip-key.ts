/**
 * IpKey — the unit a per-address limit applies to: an IPv4 address, or the /64 network of an
 * IPv6 address (one host or one home usually owns a whole /64, and can pick any address in
 * it, so counting single IPv6 addresses would limit nothing). An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, which uWS reports for IPv4 peers of a dual-stack socket) is its IPv4
 * address, so the same peer counts the same on every kind of listen socket.
 */

/** 4 bytes (IPv4) or 8 bytes (an IPv6 /64); other lengths are kept as given. */
export type IpKey = Uint8Array;

const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] as const;

/** The key of a peer address as uWS gives it (`res.getRemoteAddress()`: 4 or 16 bytes). */
export function ipKey(address: ArrayBuffer | Uint8Array): IpKey {
  const b = address instanceof Uint8Array ? address : new Uint8Array(address);
  if (b.length !== 16) return b.slice();
  if (MAPPED_PREFIX.every((x, i) => b[i] === x)) return b.slice(12, 16);
  return b.slice(0, 8);
}

/** Readable form: `192.0.2.7` or `2001:db8:0:1::/64`. */
export function ipKeyText(key: IpKey): string {
  if (key.length === 4) return key.join('.');
  if (key.length === 8) {
    const groups: string[] = [];
    for (let i = 0; i < 8; i += 2) groups.push(((key[i]! << 8) | key[i + 1]!).toString(16));
    return `${groups.join(':')}::/64`;
  }
  return Buffer.from(key).toString('hex');
}

/**
 * A seeded 32-bit hash of a key: FNV-1a over the length and the bytes, from a secret offset
 * basis, then murmur3's finaliser so that every output bit depends on every input bit (the
 * tables take low bits). Not a cryptographic MAC: with the seed unknown, a peer cannot aim
 * its addresses at chosen slots, which is all the tables need.
 */
export function hashIpKey(key: IpKey, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  h = Math.imul(h ^ key.length, 0x01000193);
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key[i]!, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
