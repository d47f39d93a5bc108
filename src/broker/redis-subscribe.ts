/** (UN)SUBSCRIBE or, on a Redis Cluster, S(UN)SUBSCRIBE of Pub/Sub names, in as few commands as Redis allows. */
import type { Redis } from 'ioredis';
import { keySlot } from './redis-slot.js';

/** Channels per SUBSCRIBE / UNSUBSCRIBE command. */
const SUBSCRIBE_CHUNK = 1000;

/**
 * A chunk per command; sharded: SSUBSCRIBE takes names of one slot only (CROSSSLOT otherwise),
 * so one command per slot. Errors are dropped: a command lost with the connection is made
 * good by the broker's full resubscribe when it is ready again; a MOVED one by the cluster
 * broker moving the channel (ioredis emits `moved`).
 */
export function subscribe(r: Redis, sharded: boolean, names: readonly string[], on: boolean): void {
  if (!sharded) {
    for (let i = 0; i < names.length; i += SUBSCRIBE_CHUNK) {
      const chunk = names.slice(i, i + SUBSCRIBE_CHUNK);
      (on ? r.subscribe(...chunk) : r.unsubscribe(...chunk)).catch(() => {});
    }
    return;
  }
  const bySlot = new Map<number, string[]>();
  for (const n of names) {
    const slot = keySlot(n);
    const group = bySlot.get(slot);
    if (group === undefined) bySlot.set(slot, [n]);
    else group.push(n);
  }
  for (const group of bySlot.values()) (on ? r.ssubscribe(...group) : r.sunsubscribe(...group)).catch(() => {});
}
