/**
 * DashboardFeed — the live feed behind /dashboard, on the main thread. While at least one
 * viewer is connected it takes a Sample each second (and the busiest channels every
 * CHANNELS_MS, or less often when there are so many channels that the passes would cost more
 * than 1/CHANNELS_BUDGET of the main thread) and hands the same serialised text to every viewer; with none it
 * holds no timer and builds nothing, so an unwatched engine pays nothing for it.
 *
 * A viewer is a FeedSink: one Server-Sent Events response on the admin port, or a whole
 * shard (the shard holds its viewers' responses on the public port and relays what it is
 * sent: one postMessage per second per watching shard, whatever its number of viewers).
 * The last HISTORY samples are kept so a page opened mid-event starts with the recent past.
 */
import { ChannelActivity, MAX_SEARCH, type ChannelSources, type ChannelTable } from './channel-activity.js';
import { CLOSE_LABELS, DashboardSampler, type Sample, type SampleSources } from './dashboard-sample.js';
import { LATENCY_BUCKETS_MS } from '../transport/counters.js';

/** Samples kept: 15 minutes at one a second. */
export const HISTORY = 900;
const SAMPLE_MS = 1000;
/** The channel table is refreshed at most this often (a question to every shard, a pass over the channels)… */
const CHANNELS_MS = 2000;
/** … and no sooner than this many times the last pass's main-thread time after it (the passes stay under ~1 % of main). */
const CHANNELS_BUDGET = 100;

export interface FeedSink {
  /** The channel searches this sink's viewers asked for ('' = none). */
  readonly searches: readonly string[];
  /** One sample, serialised (the same text for every sink). */
  sample(json: string): void;
  /** The channel tables, serialised, by search. */
  channels(tables: ReadonlyMap<string, string>): void;
}

/** What a page learns once, when it connects: the layout and the recent past. */
export interface Hello {
  shards: number;
  closeLabels: readonly string[];
  latencyBucketsMs: readonly number[];
  sampleMs: number;
  history: Sample[];
  /** Where the page publishes and subscribes (public port, publish route), filled in by the server. */
  [extra: string]: unknown;
}

export class DashboardFeed {
  private readonly sinks = new Set<FeedSink>();
  private readonly sampler: DashboardSampler;
  private readonly activity: ChannelActivity;
  private readonly history: Sample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private refreshing = false;
  /** When the next channel table may be made. */
  private nextChannelsAt = 0;
  /** Samples taken since start (a counter /metrics shows: it stands still while nobody watches). */
  samples = 0;

  constructor(
    private readonly sources: SampleSources & ChannelSources,
    private readonly extra: () => Record<string, unknown>,
    private readonly onError: (err: Error) => void,
  ) {
    this.sampler = new DashboardSampler(sources);
    this.activity = new ChannelActivity(sources);
  }

  get viewers(): number {
    return this.sinks.size;
  }

  /** True while the timer runs. */
  get running(): boolean {
    return this.timer !== null;
  }

  /** What a new viewer is sent first. */
  hello(): string {
    const hello: Hello = { ...this.extra(), shards: this.sources.counters.shards, closeLabels: CLOSE_LABELS, latencyBucketsMs: LATENCY_BUCKETS_MS, sampleMs: SAMPLE_MS, history: this.history };
    return JSON.stringify(hello);
  }

  add(sink: FeedSink): void {
    this.sinks.add(sink);
    if (this.timer !== null) return;
    this.sampler.reset();
    this.timer = setInterval(() => this.tick(), SAMPLE_MS);
    this.timer.unref();
    this.refreshChannels(); // a new page need not wait for its first table
  }

  remove(sink: FeedSink): void {
    if (!this.sinks.delete(sink) || this.sinks.size > 0) return;
    this.stop();
    this.activity.clear();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    const sample = this.sampler.sample();
    this.samples++;
    this.history.push(sample);
    if (this.history.length > HISTORY) this.history.splice(0, this.history.length - HISTORY);
    const json = JSON.stringify(sample);
    for (const sink of this.sinks) sink.sample(json);
    this.refreshChannels();
  }

  /** A new channel table, unless one is being made or the last was too recent (a new search waits for it). */
  private refreshChannels(): void {
    if (this.refreshing || Date.now() < this.nextChannelsAt) return;
    this.refreshing = true;
    const searches = [...this.sinks].flatMap((s) => s.searches);
    this.activity.refresh(searches).then(
      (tables) => {
        this.refreshing = false;
        // checked on the ticks: due half a sample early, so the tick CHANNELS_MS after this one makes it
        this.nextChannelsAt = Date.now() + Math.max(CHANNELS_MS - SAMPLE_MS / 2, CHANNELS_BUDGET * this.activity.lastCostMs);
        if (this.sinks.size === 0) return;
        const json = new Map<string, string>([...tables].map(([q, t]: [string, ChannelTable]) => [q, JSON.stringify(t)]));
        for (const sink of this.sinks) sink.channels(json);
      },
      (err: Error) => {
        this.refreshing = false;
        this.nextChannelsAt = Date.now() + CHANNELS_MS;
        this.onError(err);
      },
    );
  }
}

/** A viewer's search from its feed URL's `q` (trimmed, cut to MAX_SEARCH). */
export function searchOf(query: string | null): string {
  return (query ?? '').trim().slice(0, MAX_SEARCH);
}
