/**
 * Broker — the one seam between "a publish was accepted" and "it reached the local shards".
 * Every ingress (HTTP, WebSocket clients, IPC socket, in-process API) publishes through it.
 * MemoryBroker (broker-memory.ts) sequences and delivers on this machine; a Redis broker
 * for several machines will implement the same interface and feed the same Fanout, so the
 * shards never change.
 */
import type { ChannelSnapshot } from './sequencer.js';

export interface Broker {
  /**
   * Sequences `data` (JSON text) on every channel and hands it to local delivery: all
   * channels or none. Resolves with one seq per channel, in order; rejects with a
   * ShardcastError (`overloaded` when there is no room, `too_many_channels` when a new
   * channel would pass --max-channels: nothing was sequenced then).
   */
  publish(channels: readonly string[], data: string): Promise<readonly number[]>;
  /** Last seq and epoch of each channel with state, for shards that (re)start. */
  snapshot(): ChannelSnapshot;
  /**
   * Whether some shard of this machine has local subscribers of `channel`: called when
   * the first shard gains one (true) and when the last one loses its last (false). The
   * memory broker keeps such channels' state however long they idle; a Redis broker
   * subscribes once per channel that has local subscribers.
   */
  setInterest(channel: string, interested: boolean): void;
  close(): Promise<void>;
}
