/**
 * Bench worker: receives frames from post-producer.ts, checks each sequence number (the same
 * minimal work as ring-consumer.ts) and reports progress in `acked` for the producer's window.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { nowNs } from '../clock.js';

export interface PostConsumerData {
  readonly port: MessagePort;
  readonly slot: number;
  readonly frames: number;
  readonly frameBytes: number;
  readonly acked: Int32Array;
}

export interface PostConsumerDone {
  readonly type: 'done';
  readonly endNs: number;
}

const ACK_EVERY = 1024;

const data = workerData as PostConsumerData;
let seq = 0;

/** Reads the little-endian u32 sequence number the producer wrote through a Uint32Array. */
function seqAt(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

data.port.on('message', (message: Uint8Array) => {
  for (let at = 0; at < message.length; at += data.frameBytes) {
    if (seqAt(message, at) !== seq) throw new Error(`frame ${seq}: got sequence ${seqAt(message, at)}`);
    seq++;
    if (seq % ACK_EVERY === 0 || seq === data.frames) {
      Atomics.store(data.acked, data.slot, seq);
      Atomics.notify(data.acked, data.slot);
    }
  }
  if (seq === data.frames) {
    parentPort!.postMessage({ type: 'done', endNs: nowNs() } satisfies PostConsumerDone);
    data.port.close();
  }
});
parentPort!.postMessage({ type: 'ready' });
