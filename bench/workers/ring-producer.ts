/**
 * Bench worker: pushes `frames` fixed-size frames into a ring as fast as it can. Each frame is
 * copied in from a prepared buffer and stamped with its sequence number. It flushes every
 * `batch` records, and when the ring is full it flushes, sleeps briefly and retries (on a busy
 * 2-core machine spinning would steal the consumers' CPU).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RingProducer, type RingHandle } from '../../src/transport/ring.js';
import { nowNs, pauseMicros } from '../clock.js';

export interface RingProducerData {
  readonly ring: RingHandle;
  readonly consumers: number;
  readonly frames: number;
  readonly frameBytes: number;
  readonly batch: number;
}

export interface RingProducerDone {
  readonly type: 'done';
  readonly startNs: number;
  readonly endNs: number;
  /** Times the ring was full and the producer slept. */
  readonly fullWaits: number;
}

const FRAME_KIND = 1;
const FULL_BACKOFF_MICROS = 50;

const data = workerData as RingProducerData;
const ring = new RingProducer(data.ring);

function produce(): RingProducerDone {
  const frame = new Uint8Array(data.frameBytes).fill(0x5a);
  const { bytes, words } = ring;
  let fullWaits = 0;
  let inBatch = 0;
  const startNs = nowNs();
  for (let seq = 0; seq < data.frames; seq++) {
    let at = ring.reserve(data.frameBytes, FRAME_KIND);
    while (at < 0) {
      ring.flush();
      inBatch = 0;
      fullWaits++;
      pauseMicros(FULL_BACKOFF_MICROS);
      at = ring.reserve(data.frameBytes, FRAME_KIND);
    }
    bytes.set(frame, at);
    words[at >>> 2] = seq;
    if (++inBatch === data.batch) {
      ring.flush();
      inBatch = 0;
    }
  }
  ring.flush();
  return { type: 'done', startNs, endNs: nowNs(), fullWaits };
}

for (let i = 0; i < data.consumers; i++) ring.attach(i);
parentPort!.postMessage({ type: 'attached' });
parentPort!.once('message', () => parentPort!.postMessage(produce()));
