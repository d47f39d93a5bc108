/**
 * Runtime metrics — how full the rings are and how busy the threads are: the broadcast
 * ring's and each ingress ring's unread bytes and high-water mark, each shard's and the main
 * thread's event-loop utilisation and busy time, and the main thread's share of the process's
 * CPU (the serial stage). Read at scrape time from the rings' control blocks and the
 * ThreadSampler; the shards do nothing for them.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Counters } from '../transport/counters.js';
import type { ThreadSampler } from './thread-sampler.js';

export interface RingSources {
  readonly broadcastCapacity: number;
  /** Unread bytes of the broadcast ring for its slowest attached shard. */
  broadcastUsed(): number;
  broadcastHighWater(): number;
  readonly ingressCapacity: number;
  /** Unread bytes of a shard's ingress ring (0 while it has no worker). */
  ingressUnread(shard: number): number;
}

export function addRuntimeMetrics(registry: Registry, counters: Counters, rings: RingSources, threads: ThreadSampler): void {
  const shards = counters.shards;
  const perShard = (set: (shard: string, v: number) => void, read: (i: number) => number): void => {
    for (let i = 0; i < shards; i++) set(String(i), read(i));
  };
  new Gauge({ name: 'shardcast_broadcast_ring_used_bytes', help: `Bytes of the broadcast ring not read yet by the slowest shard (capacity ${rings.broadcastCapacity})`, registers: [registry], collect() { this.set(rings.broadcastUsed()); } });
  new Gauge({
    name: 'shardcast_broadcast_ring_high_water_bytes',
    help: `Most bytes of the broadcast ring seen unread since start (capacity ${rings.broadcastCapacity}; seen when the main thread re-measured its room, and at each scrape)`,
    registers: [registry],
    collect() { this.set(Math.max(rings.broadcastHighWater(), rings.broadcastUsed())); },
  });
  new Gauge({ name: 'shardcast_ingress_ring_used_bytes', help: `Bytes of a shard's ingress ring (shard → main) the main thread has not read yet (capacity ${rings.ingressCapacity})`, labelNames: ['shard'], registers: [registry], collect() { perShard((shard, v) => this.set({ shard }, v), (i) => rings.ingressUnread(i)); } });
  new Gauge({
    name: 'shardcast_ingress_ring_high_water_bytes',
    help: `Most bytes of a shard's ingress ring seen unread since start (capacity ${rings.ingressCapacity}; seen when the shard re-measured its room, and at each scrape)`,
    labelNames: ['shard'],
    registers: [registry],
    collect() { perShard((shard, v) => this.set({ shard }, v), (i) => Math.max(counters.shard(i, 'ingressHighWater'), rings.ingressUnread(i))); },
  });
  new Gauge({ name: 'shardcast_shard_event_loop_utilization', help: 'Share of the last second a shard\'s event loop was busy (0-1)', labelNames: ['shard'], registers: [registry], collect() { perShard((shard, v) => this.set({ shard }, v), (i) => threads.shardUtilisation[i]!); } });
  new Counter({ name: 'shardcast_shard_busy_seconds_total', help: 'Seconds a shard\'s event loop was busy since start (over every thread the slot had)', labelNames: ['shard'], registers: [registry], collect() { this.reset(); perShard((shard, v) => this.inc({ shard }, v), (i) => threads.shardBusySeconds[i]!); } });
  new Gauge({ name: 'shardcast_main_event_loop_utilization', help: 'Share of the last second the main thread\'s event loop was busy (0-1): the serial stage of every publish', registers: [registry], collect() { this.set(threads.mainUtilisation); } });
  new Counter({ name: 'shardcast_main_busy_seconds_total', help: 'Seconds the main thread\'s event loop was busy since start', registers: [registry], collect() { this.reset(); this.inc(threads.mainBusySeconds); } });
  new Gauge({ name: 'shardcast_main_cpu_share', help: 'Main thread busy time over the whole process\'s CPU time in the last second (0-1): how much of the work lands on the serial stage', registers: [registry], collect() { this.set(threads.mainCpuShare); } });
}
