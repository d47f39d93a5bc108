/**
 * The engine's metrics wiring: the Prometheus registry (src/observe) fed from what the main
 * thread owns — the shared counters, the broadcast ring's lag and high-water mark, the
 * ingress readers, and the shards' Worker handles (for event-loop utilisation, sampled by
 * the ThreadSampler once a second).
 */
import type { Registry } from 'prom-client';
import type { IngressReader } from '../ingress/ingress-reader.js';
import { createMetrics } from '../observe/metrics.js';
import { ThreadSampler } from '../observe/thread-sampler.js';
import type { Fanout } from '../pubsub/fanout.js';
import type { Counters } from '../transport/counters.js';
import type { Config } from './config.js';
import type { Supervisor } from './supervisor.js';

export function engineMetrics(config: Config, counters: Counters, fanout: Fanout, supervisor: () => Supervisor, readers: ReadonlyMap<number, IngressReader>): { registry: Registry; threads: ThreadSampler } {
  const threads = new ThreadSampler(config.workers, (shard) => {
    const worker = supervisor().worker(shard);
    return worker === null ? null : { thread: worker, elu: worker.performance.eventLoopUtilization() };
  });
  const shards = Array.from({ length: config.workers }, (_, i) => i);
  const registry = createMetrics(counters, (shard) => fanout.lag(shard), {
    broadcastCapacity: config.ringSize,
    broadcastUsed: () => Math.max(0, ...shards.map((i) => fanout.lag(i))),
    broadcastHighWater: () => fanout.highWater,
    ingressCapacity: config.ingressRingSize,
    ingressUnread: (shard) => readers.get(shard)?.unread ?? 0,
  }, threads);
  return { registry, threads };
}
