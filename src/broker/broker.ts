/**
 * Broker — the one seam between "a publish was accepted" and "it reached the local shards".
 * Every ingress (HTTP, WebSocket clients, IPC socket, in-process API) publishes through it.
 * MemoryBroker (broker-memory.ts) sequences and delivers on this machine; RedisBroker
 * (redis-broker.ts) lets several machines share one Redis and feeds the same Fanout, so the
 * shards never change.
 */
/**
 * The contract every Broker keeps (the shards and every ingress rely on it):
 *
 * 1. One order per channel. Seqs of a channel start at 1 and grow by exactly 1 per accepted
 *    publication, in the order the publications are handed to the Fanout; two publishes on
 *    the same channel are sequenced in the order publish() was called on this node (an
 *    asynchronous broker must keep that order per channel, e.g. one pipeline per node).
 * 2. All or nothing. A publish on several channels gets a seq on each or on none; a refused
 *    publish takes no seq, so accepted messages stay gap-free. The one exception: on a Redis
 *    Cluster a node may fail mid-publish after others published (redis-cluster-broker.ts);
 *    the publish then rejects with PartialPublishError, naming the seqs given and the
 *    channels not published — never a success for a half-done publish.
 * 3. Deliver before answering. The promise resolves only after the publications are in the
 *    Fanout (the broadcast ring): an ack or HTTP answer, written into the same ring after
 *    that, always reaches a shard behind the publication it acknowledges.
 * 4. The Sequencer it is given records every publication the broker hands to the Fanout, in
 *    that order: it is this node's view of each channel's last seq and epoch *as of the feed
 *    position*, which is what a (re)starting shard needs (Sequencer.snapshot), whoever
 *    assigned the seqs — this broker, or one on another machine.
 * 5. Answers find their caller by address, not by timing. Resolution may come late and in
 *    any order across channels; ingresses address their replies with (shard, generation,
 *    ref), unique for the life of the process (see records.ts), so a late answer can never
 *    reach a connection that was not its publisher.
 * 6. History answers are consistent with the feed: readHistory's answer reports the channel's
 *    state as last handed to the Fanout, and is given (synchronously with that reading) before
 *    any later publication of the channel reaches the Fanout, so the record written from it sits
 *    between the two in the broadcast ring (see recovery-records.ts).
 */
import type { Payload } from '../protocol/payload.js';

/** A channel's history after some seq, as of the last publication this node wrote to its feed. */
export interface HistoryRead {
  /** The channel's last seq written to this node's feed (0 without state). */
  readonly seq: number;
  /** Its incarnation; null: the channel has no state. */
  readonly epoch: number | null;
  /**
   * The data of seqs after+1 … seq, in order; null when the history cannot give them all (the
   * epoch asked for is not the current one, or the oldest message held is past after+1).
   */
  readonly messages: readonly Payload[] | null;
}

export interface Broker {
  /**
   * Sequences `data` (as it arrived: JSON text or MessagePack) on every channel and hands it to local delivery: all
   * channels or none. Resolves with one seq per channel, in order; rejects with a
   * ShardcastError (`overloaded` when there is no room, `too_many_channels` when a new
   * channel would pass --max-channels: nothing was sequenced then).
   */
  publish(channels: readonly string[], data: Payload): Promise<readonly number[]>;
  /**
   * The same, answered at once, for a broker that sequences on this thread (the memory
   * broker): the ingresses call it when present and skip a promise and its closures per
   * publish on the main thread's serial path. Throws what publish() would reject with.
   */
  publishNow?(channels: readonly string[], data: Payload): readonly number[];
  /**
   * Whether some shard of this machine has local subscribers of `channel`: called when
   * the first shard gains one (true) and when the last one loses its last (false). A Redis
   * broker subscribes once per channel that has local subscribers. The memory broker has
   * none: it asks the engine's Interest when it sweeps (MemoryBrokerOptions.interested).
   */
  setInterest?(channel: string, interested: boolean): void;
  /**
   * A broker that joins several nodes tells the others to close every connection of `user`
   * (each does so with the `onDisconnectUser` hook it was made with) and resolves with how
   * many other nodes heard it; rejects with `overloaded` when they cannot be told now. Absent:
   * there are no other nodes.
   */
  disconnectUser?(user: string): Promise<number>;
  /**
   * Reads `channel`'s messages after seq `after` of incarnation `epoch` for a recovering
   * subscriber and calls `answer` once, at a moment when this node's Fanout holds every
   * publication of the channel up to the seq it reports and none after (contract point 6):
   * the caller writes its answer into the feed from inside `answer`. The memory broker
   * answers at once; a remote one when its reply arrives. `after` < 0 (STATE_ONLY): only the
   * channel's state is wanted, as this node's feed holds it once brought up to the broker's
   * (a remote broker subscribes and fills first, as for a replay); `messages` is then null.
   */
  readHistory(channel: string, after: number, epoch: number, answer: (h: HistoryRead) => void): void;
  close(): Promise<void>;
}
