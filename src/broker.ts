/**
 * Broker — the one seam between "a publish was accepted" and "it reached the local shards".
 * Every ingress (HTTP, WebSocket clients, IPC socket, in-process API) publishes through it.
 * MemoryBroker (broker-memory.ts) sequences and delivers on this machine; a Redis broker
 * for several machines will implement the same interface and feed the same Fanout, so the
 * shards never change.
 */
export interface Broker {
  /**
   * Sequences `data` (JSON text) on every channel and hands it to local delivery: all
   * channels or none. Resolves with one seq per channel, in order; rejects with a
   * ShardcastError (`overloaded` when there is no room: nothing was sequenced then).
   */
  publish(channels: readonly string[], data: string): Promise<readonly number[]>;
  /** Last seq of each channel, for shards that (re)start. */
  snapshot(): Array<[string, number]>;
  close(): Promise<void>;
}
