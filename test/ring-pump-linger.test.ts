/**
 * RingPump's adaptive linger (the main thread reads its ingress rings so): a pump whose batches
 * come far apart stops polling after them and sleeps, one fed a flood polls again, and either
 * way every record arrives, once and in order — a pump that sleeps instead of polling must
 * still be woken by every flush. Real ring, real Atomics.waitAsync (notified from this thread).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readForget, writeForget, type ForgetView } from '../src/transport/records.js';
import { RingConsumer, RingProducer, createRing } from '../src/transport/ring.js';
import { RingPump } from '../src/transport/ring-pump.js';
import { waitUntil } from './helpers/wait.js';

function adaptivePump(): { producer: RingProducer; pump: RingPump; seen: number[] } {
  const handle = createRing({ capacity: 64 * 1024, maxConsumers: 1, attached: 1 });
  const producer = new RingProducer(handle);
  const consumer = new RingConsumer(handle, 0);
  const seen: number[] = [];
  const view: ForgetView = { epoch: 0, channel: '' };
  const pump = new RingPump(consumer, (at) => seen.push(readForget(consumer, at, view).epoch), undefined, undefined, { linger: 'adaptive' });
  return { producer, pump, seen };
}

function send(producer: RingProducer, from: number, count: number): void {
  for (let i = 0; i < count; i++) assert.ok(writeForget(producer, from + i, 'c'));
  producer.flush();
}

const inOrder = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

test('adaptive: batches far apart make the pump sleep instead of polling, and every record still arrives', async () => {
  const { producer, pump, seen } = adaptivePump();
  pump.start();
  try {
    assert.equal(pump.lingers, true, 'it starts out polling');
    let sent = 0;
    for (let b = 0; b < 60 && pump.lingers; b++) {
      send(producer, sent, 3);
      sent += 3;
      await waitUntil(() => seen.length === sent, 5_000, `${sent} records`);
      await sleep(5); // 25x the linger: no poll catches the next batch
    }
    assert.equal(pump.lingers, false, 'after sparse batches it no longer polls');
    // now asleep right after each batch: every later flush must wake it
    for (let b = 0; b < 20; b++) {
      send(producer, sent, 2);
      sent += 2;
      await waitUntil(() => seen.length === sent, 5_000, `${sent} records`);
      await sleep(3);
    }
    assert.deepEqual(seen, inOrder(sent));
  } finally {
    pump.stop();
  }
});

test('adaptive: a flood (each batch right behind the last) brings the polling back', async () => {
  const { producer, pump, seen } = adaptivePump();
  pump.start();
  try {
    let sent = 0;
    for (let b = 0; b < 60 && pump.lingers; b++) {
      send(producer, sent, 1);
      sent += 1;
      await waitUntil(() => seen.length === sent, 5_000, `${sent} records`);
      await sleep(5);
    }
    assert.equal(pump.lingers, false);
    // a batch every event-loop turn: the wake-ups find each one within the linger
    for (let b = 0; b < 2_000 && !pump.lingers; b++) {
      send(producer, sent, 4);
      sent += 4;
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(pump.lingers, true, 'back to polling under a flood');
    await waitUntil(() => seen.length === sent, 5_000, `${sent} records`);
    assert.deepEqual(seen, inOrder(sent));
  } finally {
    pump.stop();
  }
});
