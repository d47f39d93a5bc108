/**
 * Bench worker: sends the same frames as ring-producer.ts, but by postMessage on one
 * MessagePort per consumer — either one message per frame or `batch` frames per message
 * (cloned, as a real broadcaster would have to). postMessage has no backpressure, so a window
 * stops the producer from running more than `window` frames ahead of the slowest consumer
 * (without it the queue, not the transport, would be measured, and memory would explode).
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { nowNs } from '../clock.js';

export interface PostProducerData {
  readonly ports: MessagePort[];
  readonly frames: number;
  readonly frameBytes: number;
  readonly batch: number;
  /** acked[i]: frames consumer i has processed (written by the consumer). */
  readonly acked: Int32Array;
  readonly window: number;
}

export interface PostProducerDone {
  readonly type: 'done';
  readonly startNs: number;
  readonly endNs: number;
  /** Times the producer waited for a consumer to catch up. */
  readonly windowWaits: number;
}

const data = workerData as PostProducerData;

function produce(): PostProducerDone {
  const message = new Uint8Array(data.frameBytes * data.batch).fill(0x5a);
  const words = new Uint32Array(message.buffer);
  const frameWords = data.frameBytes >>> 2;
  let windowWaits = 0;
  const startNs = nowNs();
  for (let seq = 0; seq < data.frames; seq += data.batch) {
    for (let k = 0; k < data.batch; k++) words[k * frameWords] = seq + k;
    for (let c = 0; c < data.ports.length; c++) {
      for (let acked = Atomics.load(data.acked, c); seq - acked > data.window; acked = Atomics.load(data.acked, c)) {
        windowWaits++;
        Atomics.wait(data.acked, c, acked, 1);
      }
    }
    for (const port of data.ports) port.postMessage(message);
  }
  return { type: 'done', startNs, endNs: nowNs(), windowWaits };
}

parentPort!.postMessage({ type: 'attached' });
parentPort!.once('message', () => parentPort!.postMessage(produce()));
