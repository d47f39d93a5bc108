/**
 * Bench worker: one side of a ping-pong through two rings (this side produces into `out` and
 * consumes `in`). The pinger sends, the ponger answers each ping at once. Before each ping the
 * pinger pauses `gapMicros`, long enough for the ponger to be asleep in waitAsync again, so
 * every hop measures flush() -> wake-up -> record in hand. A record carries the sender's
 * clock taken just before flush(); the receiver records (its clock - that) per hop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RingConsumer, RingProducer, type RingHandle } from '../../src/transport/ring.js';
import { nowNs, pauseMicros } from '../clock.js';

export interface PingPongData {
  readonly role: 'ping' | 'pong';
  readonly out: RingHandle;
  readonly in: RingHandle;
  readonly iterations: number;
  readonly gapMicros: number;
}

export interface PingPongDone {
  readonly type: 'done';
  /** One-way latencies of the hops this side received after really sleeping. */
  readonly oneWayNs: number[];
  /** Hops that arrived before this side got to sleep (not in oneWayNs). */
  readonly notAsleep: number;
  /** Round trips measured by the pinger (empty for the ponger). */
  readonly roundTripNs: number[];
}

const STAMP_BYTES = 8;

const data = workerData as PingPongData;
const out = new RingProducer(data.out);

function send(seq: number): void {
  const at = out.reserve(STAMP_BYTES, seq);
  if (at < 0) throw new Error('ping-pong ring full');
  out.f64[at >>> 3] = nowNs();
  out.flush();
}

async function run(): Promise<PingPongDone> {
  const input = new RingConsumer(data.in, 0);
  const oneWayNs: number[] = [];
  const roundTripNs: number[] = [];
  let notAsleep = 0;

  /** Waits for the next record; returns the sender's timestamp. */
  const receive = async (): Promise<number> => {
    let slept = false;
    for (;;) {
      const at = input.next();
      if (at >= 0) {
        const now = nowNs();
        const sentNs = input.f64[at >>> 3]!;
        input.release();
        if (slept) oneWayNs.push(now - sentNs);
        else notAsleep++;
        return sentNs;
      }
      input.release();
      const woken = input.sleep();
      if (woken !== null) {
        slept = true;
        await woken;
      }
    }
  };

  for (let i = 0; i < data.iterations; i++) {
    if (data.role === 'ping') {
      pauseMicros(data.gapMicros);
      const sentNs = nowNs();
      send(i);
      await receive();
      roundTripNs.push(nowNs() - sentNs);
    } else {
      await receive();
      send(i);
    }
  }
  return { type: 'done', oneWayNs, notAsleep, roundTripNs };
}

out.attach(0);
parentPort!.postMessage({ type: 'attached' });
parentPort!.once('message', () => {
  // A pending Atomics.waitAsync does not keep a worker's event loop alive.
  const keepAlive = setInterval(() => {}, 2 ** 30);
  void run()
    .then((done) => parentPort!.postMessage(done))
    .finally(() => clearInterval(keepAlive));
});
