/** Which Broker the engine runs (--broker), made and started here. */
import type { Broker } from '../broker/broker.js';
import { MemoryBroker } from '../broker/broker-memory.js';
import { RedisBroker } from '../broker/redis-broker.js';
import { RedisClusterBroker } from '../broker/redis-cluster-broker.js';
import type { Fanout } from '../pubsub/fanout.js';
import type { Sequencer } from '../pubsub/sequencer.js';
import type { Counters } from '../transport/counters.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';

/** How long start-up waits for Redis before it goes on (publishes refused until Redis answers). */
const REDIS_START_WAIT_MS = 3000;

/**
 * `onDisconnectUser`: another node asks this one to close a user's connections (several nodes
 * only); `interested`: whether some shard has local subscribers of a channel (the engine's Interest).
 */
export function createBroker(config: Config, fanout: Fanout, sequencer: Sequencer, counters: Counters, log: Logger, onDisconnectUser: (user: string) => void, interested: (channel: string) => boolean): Broker {
  if (config.broker === 'redis') {
    const options = { channelTtl: config.channelTtl, historySize: config.historySize, counters, log, onDisconnectUser };
    if (config.redisCluster) return new RedisClusterBroker(fanout, sequencer, { ...options, seeds: config.redisUrl!.split(',') });
    return new RedisBroker(fanout, sequencer, { ...options, url: config.redisUrl! });
  }
  const history = { size: config.historySize, ttlMs: config.historyTtl * 1000, maxBytes: config.historyMaxBytes };
  return new MemoryBroker(fanout, sequencer, { maxChannels: config.maxChannels, channelTtl: config.channelTtl, history, counters, interested });
}

/** Connects a broker that has somewhere to connect to. */
export async function startBroker(broker: Broker): Promise<void> {
  if (broker instanceof RedisBroker || broker instanceof RedisClusterBroker) await broker.start(REDIS_START_WAIT_MS);
}

/** Test hook (injectForget): only the memory broker forgets channel state on its own. */
export function forgetNow(broker: Broker, channel: string): boolean {
  if (!(broker instanceof MemoryBroker)) throw new Error('injectForget needs the memory broker');
  return broker.forgetNow(channel);
}
