/**
 * Bench worker: the postMessage counterpart of ring-pingpong.ts — the same ping-pong, the
 * same pause before each ping (so the receiver's event loop is idle in epoll, as an asleep
 * ring consumer is in waitAsync), one message per hop carrying the sender's clock.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { nowNs, pauseMicros } from '../clock.js';
import type { PingPongDone } from './ring-pingpong.js';

export interface PostPingPongData {
  readonly role: 'ping' | 'pong';
  readonly port: MessagePort;
  readonly iterations: number;
  readonly gapMicros: number;
}

const data = workerData as PostPingPongData;
const oneWayNs: number[] = [];
const roundTripNs: number[] = [];
let received = 0;
let pingSentNs = 0;

function ping(): void {
  pauseMicros(data.gapMicros);
  pingSentNs = nowNs();
  data.port.postMessage(pingSentNs);
}

function finish(): void {
  parentPort!.postMessage({ type: 'done', oneWayNs, notAsleep: 0, roundTripNs } satisfies PingPongDone);
  data.port.close();
}

data.port.on('message', (sentNs: number) => {
  const now = nowNs();
  oneWayNs.push(now - sentNs);
  received++;
  if (data.role === 'pong') {
    data.port.postMessage(nowNs());
    if (received === data.iterations) finish();
    return;
  }
  roundTripNs.push(now - pingSentNs);
  if (received === data.iterations) finish();
  else ping();
});

parentPort!.postMessage({ type: 'attached' });
parentPort!.once('message', () => {
  if (data.role === 'ping') ping();
});
