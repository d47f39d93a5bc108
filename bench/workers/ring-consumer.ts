/**
 * Bench worker: reads `frames` frames from its ring slot, checking each sequence number (the
 * minimal work a real consumer does: look at the record), releasing every 1024 records and
 * sleeping in waitAsync whenever the ring is empty.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RingConsumer, type RingHandle } from '../../src/transport/ring.js';
import { nowNs } from '../clock.js';

export interface RingConsumerData {
  readonly ring: RingHandle;
  readonly slot: number;
  readonly frames: number;
}

export interface RingConsumerDone {
  readonly type: 'done';
  readonly endNs: number;
  /** Times the consumer found the ring empty and really slept. */
  readonly sleeps: number;
}

const RELEASE_EVERY = 1024;

const data = workerData as RingConsumerData;

async function consume(): Promise<RingConsumerDone> {
  const ring = new RingConsumer(data.ring, data.slot);
  const { words } = ring;
  parentPort!.postMessage({ type: 'ready' });
  let seq = 0;
  let sleeps = 0;
  while (seq < data.frames) {
    const at = ring.next();
    if (at < 0) {
      ring.release();
      const woken = ring.sleep();
      if (woken !== null) {
        sleeps++;
        await woken;
      }
      continue;
    }
    if (words[at >>> 2] !== seq) throw new Error(`frame ${seq}: got sequence ${words[at >>> 2]}`);
    if (++seq % RELEASE_EVERY === 0) ring.release();
  }
  ring.release();
  return { type: 'done', endNs: nowNs(), sleeps };
}

// A pending Atomics.waitAsync does not keep a worker's event loop alive.
const keepAlive = setInterval(() => {}, 2 ** 30);
void consume()
  .then((done) => parentPort!.postMessage(done))
  .finally(() => clearInterval(keepAlive));
