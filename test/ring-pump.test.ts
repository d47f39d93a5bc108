/**
 * RingPump (src/transport/ring-pump.ts) against a producer on a real thread: whatever mix of
 * lingering, napping and sleeping the pump goes through between batches, every record arrives
 * once, in order and intact (test/fixtures/record-stream.ts), and it naps only while its
 * `when` says so.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRing, RingConsumer } from '../src/transport/ring.js';
import { RingPump, type PumpNap } from '../src/transport/ring-pump.js';
import { StreamVerifier, type StreamSpec } from './fixtures/record-stream.js';
import type { PumpProducerData, PumpProducerDone } from './fixtures/pump-producer.js';
import { withWorkers, type Message } from './fixtures/workers.js';

const STREAM: StreamSpec = { seed: 0x7a11, count: 6000, minSize: 0, maxSize: 600 };
/** Back to back, inside the linger, inside a 1 ms nap, and long enough to fall asleep. */
const PAUSES_MS = [0, 0.01, 0.3, 4];

interface Outcome {
  readonly naps: number;
  readonly batches: number;
  readonly bursts: number;
}

async function pumpStream(seed: number, nap: PumpNap | null): Promise<Outcome> {
  const stream = { ...STREAM, seed };
  let outcome: Outcome | undefined;
  await withWorkers(async (start) => {
    // small enough that the producer fills it now and then and must wait for the pump
    const handle = createRing({ capacity: 16384, maxConsumers: 1 });
    const producer = start('pump-producer', { ring: handle, stream, maxBurst: 40, pausesMs: PAUSES_MS } satisfies PumpProducerData);
    await producer.receive<Message>('attached', 5000);
    const ring = new RingConsumer(handle, 0);
    const verifier = new StreamVerifier(stream);
    let batches = 0;
    const seen: { failure: Error | null } = { failure: null };
    let finished: () => void = () => {};
    const allIn = new Promise<void>((resolve) => (finished = resolve));
    const pump = new RingPump(
      ring,
      (at) => {
        try {
          verifier.verify(ring, at);
        } catch (err) {
          seen.failure ??= err instanceof Error ? err : new Error(String(err));
        }
        if (verifier.done || seen.failure !== null) finished();
      },
      () => batches++,
      () => {
        seen.failure ??= new Error('the pump was cut loose');
        finished();
      },
      nap,
    );
    pump.start();
    try {
      const done = await producer.receive<PumpProducerDone>('done', 60_000);
      await Promise.race([allIn, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${verifier.index} of ${stream.count} records arrived`)), 30_000).unref())]);
      if (seen.failure !== null) throw seen.failure;
      outcome = { naps: pump.naps, batches, bursts: done.bursts };
    } finally {
      pump.stop();
    }
  });
  assert.ok(outcome !== undefined);
  return outcome;
}

test('without a nap: every record once, in order, intact, through lingering and sleeping', async () => {
  const o = await pumpStream(1, null);
  assert.equal(o.naps, 0);
  assert.ok(o.batches > 10, `${o.batches} batches for ${o.bursts} bursts`);
});

test('napping after every batch: every record once, in order, intact, and it did nap', async () => {
  const o = await pumpStream(2, { ms: 1, when: () => true });
  assert.ok(o.naps > 10, `${o.naps} naps for ${o.bursts} bursts`);
});

test('napping while `when` says so: naps only then, and no record is lost across the switches', async () => {
  let asked = 0;
  let yes = 0;
  const o = await pumpStream(3, {
    ms: 1,
    when: () => {
      const nap = ++asked % 3 === 0;
      if (nap) yes++;
      return nap;
    },
  });
  assert.equal(o.naps, yes, 'one nap per yes');
  assert.ok(o.naps > 0 && o.naps < asked, `${o.naps} naps of ${asked} batches asked`);
});
