/**
 * RecordingClient — a ShardcastClient (the library under test, on Node 20's `ws` WebSocket or
 * the global one of Node 22+) that writes down everything it tells the application, so tests
 * can check exactly-once delivery and every reported loss against the server's seqs.
 */
import WebSocket from 'ws';
import { pack, unpack } from 'msgpackr';
import { ShardcastClient, type ClientEvents, type ClientOptions, type WebSocketConstructor } from 'shardcast/client';
import { waitUntil } from './wait.js';

/** Node 22+'s own WebSocket when there is one (what users get by default), else the ws package (Node 20). */
export const nodeWebSocket = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? (WebSocket as unknown as WebSocketConstructor);

export type Recorded = { [K in keyof ClientEvents]: [K, ClientEvents[K]] }[keyof ClientEvents];

export class RecordingClient {
  readonly client: ShardcastClient;
  readonly log: Recorded[] = [];

  constructor(port: number, options: Partial<ClientOptions> = {}) {
    this.client = new ShardcastClient({
      url: `ws://127.0.0.1:${port}/ws`,
      WebSocket: nodeWebSocket,
      codec: { encode: pack, decode: unpack },
      backoff: { initialMs: 100, maxMs: 1000 },
      ...options,
    });
    for (const name of ['open', 'message', 'subscribed', 'gap', 'unrecovered', 'reset', 'close', 'error'] as const) {
      this.client.on(name, (e) => this.log.push([name, e] as Recorded));
    }
  }

  events<K extends keyof ClientEvents>(name: K): Array<ClientEvents[K]> {
    return this.log.filter((e) => e[0] === name).map((e) => e[1] as ClientEvents[K]);
  }

  /** The seqs delivered on `channel`, in delivery order. */
  seqs(channel: string): number[] {
    return this.events('message').filter((d) => d.channel === channel).map((d) => d.seq);
  }

  /** The shard of the current connection (the last welcome). */
  shard(): number {
    return this.events('open').at(-1)!.shard;
  }

  async until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    await waitUntil(pred, timeoutMs, what);
  }

  /**
   * Every seq of one epoch of `channel` from `from` to `to` is accounted for exactly once: it
   * was delivered, or it lies in a reported gap (or the part a conflated message replaced).
   */
  accounted(channel: string, from: number, to: number): { delivered: number; gaps: number } {
    const covered: number[] = [];
    for (const [name, e] of this.log) {
      if (name === 'message' && e.channel === channel) for (let s = e.seq - e.replaces; s <= e.seq; s++) covered.push(s);
      if (name === 'gap' && e.channel === channel) for (let s = e.from; s <= e.to; s++) covered.push(s);
    }
    const want = Array.from({ length: to - from + 1 }, (_, i) => from + i);
    if (covered.join() !== want.join()) throw new Error(`seqs of ${channel} not accounted for exactly once, in order: ${covered.join(',')}`);
    return { delivered: this.seqs(channel).length, gaps: this.events('gap').filter((g) => g.channel === channel).length };
  }

  close(): void {
    this.client.close();
  }
}
