/**
 * A load thread for bench/socketio.ts: the same subscribers for Shardcast and for Socket.IO, so
 * the two servers are driven by one load. Opens `count` `ws` connections (connection i to
 * urls[i % n]), subscribes each to `channel` in the server's own dialect, then timestamps every
 * delivery against the `t` its data carries (wall-clock ms, see src/bench/clock.ts) into an HDR
 * histogram. Messages: 'stop' → answers with the counts and the histogram's percentiles.
 *
 * Socket.IO's wire, spoken by hand (Engine.IO 4 over a WebSocket): the server opens with `0{…}`,
 * the client connects the namespace with `40`, the server confirms with `40{…}`; events are
 * `42["name",arg]`; the server's ping `2` is answered `3`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import WebSocket from 'ws';
import { wallMs } from '../../src/bench/clock.js';

export type Dialect = 'shardcast' | 'socketio';

export interface DialectLoadTask {
  readonly dialect: Dialect;
  readonly urls: readonly string[];
  /** Global index of this thread's first connection (connection i goes to urls[i % n]). */
  readonly first: number;
  readonly count: number;
  readonly channel: string;
}

export interface DialectLoadResult {
  readonly delivered: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly closed: number;
}

const task = workerData as DialectLoadTask;
const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
let delivered = 0;
let closed = 0;
let subscribed = 0;
const sockets: WebSocket[] = [];

function record(data: unknown): void {
  const t = (data as { t?: unknown } | null)?.t;
  if (typeof t !== 'number') return;
  delivered++;
  histogram.recordValue(Math.max(1, Math.round((wallMs() - t) * 1000))); // µs
}

function onSubscribed(): void {
  if (++subscribed !== task.count) return;
  parentPort!.postMessage({ type: 'ready' });
  // the harness waits for every delivery before it stops the run: counts 5 times a second
  counting = setInterval(() => parentPort!.postMessage({ type: 'count', delivered }), 200);
}
let counting: NodeJS.Timeout | null = null;

function open(i: number): Promise<void> {
  const url = task.urls[i % task.urls.length]!;
  const ws = new WebSocket(task.dialect === 'shardcast' ? url : `${url}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
  sockets.push(ws);
  ws.on('close', () => closed++);
  ws.on('error', () => undefined); // 'close' follows and is counted
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    if (task.dialect === 'shardcast') {
      ws.once('open', () => ws.send(JSON.stringify({ type: 'subscribe', channel: task.channel })));
      ws.on('message', (raw: Buffer) => {
        const v = JSON.parse(raw.toString()) as { type: string; data?: unknown } | Array<{ type: string; data?: unknown }>;
        for (const m of Array.isArray(v) ? v : [v]) {
          if (m.type === 'message') record(m.data);
          else if (m.type === 'subscribed') {
            onSubscribed();
            resolve();
          }
        }
      });
    } else {
      ws.on('message', (raw: Buffer) => {
        const s = raw.toString();
        if (s.startsWith('42')) {
          const [name, arg] = JSON.parse(s.slice(2)) as [string, { data?: unknown }];
          if (name === 'message') record(arg.data);
          else if (name === 'subscribed') {
            onSubscribed();
            resolve();
          }
        } else if (s === '2') ws.send('3');
        else if (s.startsWith('0')) ws.send('40');
        else if (s.startsWith('40')) ws.send(`42${JSON.stringify(['subscribe', task.channel])}`);
      });
    }
  });
}

parentPort!.on('message', (m: { type: string }) => {
  if (m.type !== 'stop') return;
  if (counting !== null) clearInterval(counting);
  const result: DialectLoadResult = {
    delivered, closed,
    p50: histogram.getValueAtPercentile(50) / 1000,
    p99: histogram.getValueAtPercentile(99) / 1000,
    max: histogram.maxValue / 1000,
  };
  for (const ws of sockets) ws.terminate();
  parentPort!.postMessage({ type: 'result', result });
  parentPort!.close();
});

// at most 64 handshakes in flight: a burst must not overflow the servers' accept queues
const next = { i: 0 };
async function opener(): Promise<void> {
  while (next.i < task.count) await open(task.first + next.i++);
}
Promise.all(Array.from({ length: Math.min(64, task.count) }, opener)).catch((err: unknown) => {
  parentPort!.postMessage({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
});
