import type { Broker, HistoryRead } from './broker.js';
import { MemoryHistory, type HistoryLimits } from './memory-history.js';
import { ErrorCode } from '../protocol/codes.js';
import type { Counters } from '../transport/counters.js';
import { ShardcastError } from '../protocol/errors.js';
import type { Payload } from '../protocol/payload.js';
import type { Fanout } from '../pubsub/fanout.js';
import type { ChannelState, Sequencer } from '../pubsub/sequencer.js';

/**
 * Channels one sweep slice visits before yielding the main thread: about 0.1-0.3 ms when
 * nothing is idle, 1-3 ms when all of them are forgotten (FORGET records included).
 */
const SWEEP_SLICE = 5000;
/** A publish refused by --max-channels sweeps first, but not more often than this. */
const FORCED_SWEEP_EVERY_MS = 1000;
/** Shortest interval between two sweep passes. */
const MIN_SWEEP_INTERVAL_MS = 25;

export interface MemoryBrokerOptions {
  /** Channels with state at most (--max-channels). */
  readonly maxChannels: number;
  /** Ms a channel with no subscriber and no publication keeps its state; 0 = forever. */
  readonly channelTtl: number;
  /** --history-size, --history-ttl, --history-max-bytes. */
  readonly history: HistoryLimits;
  readonly counters: Counters;
  /**
   * Whether some shard has local subscribers of a channel (the engine's Interest): such
   * channels keep their state whatever their idle time. Asked, not copied into a set of
   * this broker's own — with per-user channels that would be one more entry per user.
   */
  readonly interested: (channel: string) => boolean;
}

/**
 * The single-machine broker: the main thread sequences and writes to the broadcast ring.
 * It also bounds the sequencer: a timer sweeps, in slices that keep the main thread
 * responsive, for channels idle for --channel-ttl with no subscriber on any shard, and
 * forgets each one behind a FORGET record, so every shard drops its entry at the same
 * point of the stream.
 */
export class MemoryBroker implements Broker {
  private readonly timer: NodeJS.Timeout | null = null;
  private sweeping = false;
  private lastForcedSweep = -Infinity;
  private readonly keep = (c: string): boolean => this.options.interested(c);
  private readonly tellShards = (c: string, s: ChannelState): boolean => {
    if (!this.fanout.forget(c, s.epoch)) return false;
    this.history.drop(c);
    this.options.counters.mainAdd('channelsForgotten');
    return true;
  };
  /** Recent messages per channel, for subscribers that recover after a reconnect. */
  private readonly history: MemoryHistory;
  private historyGaugeQueued = false;
  private readonly updateHistoryGauge = (): void => {
    this.historyGaugeQueued = false;
    this.options.counters.mainSet('historyMessages', this.history.messages);
    this.options.counters.mainSet('historyBytes', this.history.bytes);
  };
  private readonly slice = (): void => this.runSlice();

  constructor(
    private readonly fanout: Fanout,
    /** This node's last seq and epoch per channel; the memory broker also assigns them. */
    private readonly sequencer: Sequencer,
    private readonly options: MemoryBrokerOptions,
  ) {
    this.history = new MemoryHistory(options.history);
    if (options.channelTtl > 0) {
      // a channel is forgotten between ttl and ttl + one interval after it went idle
      const every = Math.max(MIN_SWEEP_INTERVAL_MS, Math.floor(options.channelTtl / 4));
      this.timer = setInterval(() => this.startSweep(), every);
      this.timer.unref();
    }
  }

  publish(channels: readonly string[], data: Payload): Promise<readonly number[]> {
    // the executor runs publishNow now, and its throw (a ShardcastError) becomes the rejection
    return new Promise((resolve) => resolve(this.publishNow(channels, data)));
  }

  /** Synchronous form, for ingresses on the main thread that want no promise per message. */
  publishNow(channels: readonly string[], data: Payload): readonly number[] {
    const now = Date.now();
    this.admit(channels, now);
    const seqs = new Array<number>(channels.length);
    const epochs = new Array<number>(channels.length);
    for (let i = 0; i < channels.length; i++) {
      const s = this.sequencer.get(channels[i]!);
      seqs[i] = s === undefined ? 1 : s.seq + 1;
      epochs[i] = s === undefined ? this.sequencer.newEpoch() : s.epoch;
    }
    const delivery = this.fanout.deliver(channels, seqs, epochs, data);
    if (delivery === 'full') throw new ShardcastError(ErrorCode.Overloaded, 'broadcast ring is full; retry shortly');
    if (delivery === 'too-large') {
      throw new ShardcastError(ErrorCode.PayloadTooLarge, `${channels.length} channel(s) × this data exceed half the broadcast ring; publish to fewer channels at once or raise --ring-size`);
    }
    const before = this.sequencer.channels;
    for (let i = 0; i < channels.length; i++) this.sequencer.commit(channels[i]!, seqs[i]!, epochs[i]!, now);
    if (this.sequencer.channels !== before) this.updateGauge();
    if (this.history.enabled) {
      for (let i = 0; i < channels.length; i++) this.history.append(channels[i]!, seqs[i]!, epochs[i]!, data, now);
      if (!this.historyGaugeQueued) {
        this.historyGaugeQueued = true; // once per turn: a shared-counter store per publish is serial-path work
        setImmediate(this.updateHistoryGauge);
      }
    }
    return seqs;
  }

  /**
   * Answers at once: the channel's open merge window is written first, so the sequencer's
   * seq is what the feed holds, and the history holds every message up to it.
   */
  readHistory(channel: string, after: number, epoch: number, answer: (h: HistoryRead) => void): void {
    this.fanout.closeWindow(channel);
    const s = this.sequencer.get(channel);
    if (s === undefined) return answer({ seq: 0, epoch: null, messages: null });
    answer({ seq: s.seq, epoch: s.epoch, messages: s.epoch === epoch && after >= 0 ? this.history.read(channel, after, epoch, s.seq, Date.now()) : null });
  }

  /** Channels with state now. */
  get liveChannels(): number {
    return this.sequencer.channels;
  }

  /**
   * Test hook (testHooks): forgets a channel now, whatever its subscribers and idle time,
   * as a sweep racing a subscribe would. False when it has no state or the ring no room.
   */
  forgetNow(channel: string): boolean {
    const s = this.sequencer.get(channel);
    if (s === undefined || !this.tellShards(channel, s)) return false;
    this.sequencer.forget(channel);
    this.updateHistoryGauge();
    this.updateGauge();
    return true;
  }

  close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    return Promise.resolve();
  }

  /**
   * Refuses a publish that would create channels past --max-channels, after one
   * synchronous sweep (at most once a second) has had a chance to make room. Channels that
   * have state always publish.
   */
  private admit(channels: readonly string[], now: number): void {
    const { maxChannels, channelTtl, counters } = this.options;
    // the main thread's serial path: far below the cap, no channel needs looking up
    if (this.sequencer.channels + channels.length <= maxChannels) return;
    let fresh = this.countFresh(channels);
    if (fresh === 0 || this.sequencer.channels + fresh <= maxChannels) return;
    if (channelTtl > 0 && now - this.lastForcedSweep >= FORCED_SWEEP_EVERY_MS) {
      this.lastForcedSweep = now;
      this.sequencer.restartSweep();
      this.sequencer.sweep(now, channelTtl, this.keep, this.tellShards);
      this.updateGauge();
      fresh = this.countFresh(channels); // the sweep may have forgotten some of them
      if (this.sequencer.channels + fresh <= maxChannels) return;
    }
    counters.mainAdd('rejectedTooManyChannels');
    throw new ShardcastError(ErrorCode.TooManyChannels, `channel limit ${maxChannels} reached (--max-channels); existing channels still accept publishes`);
  }

  private countFresh(channels: readonly string[]): number {
    let n = 0;
    for (const c of channels) if (this.sequencer.get(c) === undefined) n++;
    return n;
  }

  private startSweep(): void {
    if (this.sweeping) return; // a pass is still running in slices
    this.sweeping = true;
    this.runSlice();
  }

  private runSlice(): void {
    const result = this.sequencer.sweep(Date.now(), this.options.channelTtl, this.keep, this.tellShards, SWEEP_SLICE);
    this.updateGauge();
    if (result === 'more') setImmediate(this.slice).unref();
    else this.sweeping = false; // done, or blocked by a full ring: the next tick resumes
  }

  private updateGauge(): void {
    this.options.counters.mainSet('channelsLive', this.sequencer.channels);
  }
}
