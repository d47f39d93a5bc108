/**
 * Helpers of the recovery tests (memory and Redis brokers): what a client has of a channel,
 * a subscribe with `since`, and a stream of publishes that keeps flowing while clients recover.
 */
import assert from 'node:assert/strict';
import type { Frame, TestClient } from './client.js';
import { sleep } from './wait.js';

/** Seqs of the channel's messages in the inbox (from index `from`), in arrival order. */
export const seqsOf = (c: TestClient, channel: string, from = 0): number[] =>
  c.inbox.slice(from).filter((m) => m.type === 'message' && m['channel'] === channel).map((m) => m['seq'] as number);

export const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/** The channel's epoch as a client learnt it: from `subscribed`, or from its seq 1 message. */
export function epochOf(c: TestClient, channel: string): string {
  const m = c.inbox.find((f) => f['channel'] === channel && typeof f['epoch'] === 'string');
  assert.ok(m, `client knows the epoch of ${channel}`);
  return m['epoch'] as string;
}

/** Subscribes with `since`; resolves with the `subscribed` answer and its inbox index. */
export async function subscribeSince(c: TestClient, channel: string, seq: number, epoch: string): Promise<{ answer: Frame; at: number }> {
  const from = c.inbox.length;
  c.send({ type: 'subscribe', channel, since: { seq, epoch } });
  const answer = await c.waitFor((m) => m.type === 'subscribed' && m['channel'] === channel, 10_000, from);
  return { answer, at: c.inbox.indexOf(answer) };
}

/** Publishes `data` on `channel` over one acked WebSocket publisher; resolves with the seq. */
export async function wsPublish(publisher: TestClient, channel: string, data: unknown, id: string): Promise<number> {
  const from = publisher.inbox.length;
  publisher.send({ type: 'publish', channel, data, id });
  const ack = await publisher.waitFor((m) => m.type === 'ack' && m['id'] === id, 10_000, from);
  return ack['seq'] as number;
}

/**
 * Publishes until stop(), taking the publishers in turn (each resolves with the seq it got),
 * a few ms apart; stop() resolves with the last seq given.
 */
export function flow(publishers: ReadonlyArray<(i: number) => Promise<number>>): { stop(): Promise<number> } {
  let running = true;
  let last = 0;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      last = Math.max(last, await publishers[i % publishers.length]!(i));
      await sleep(2);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return last;
    },
  };
}

/**
 * The mid-stream scenario's check: each client subscribed with `sinces[i]` (answer at inbox
 * index `at`) ends with exactly since+1 … final, once each, in order, and nothing before.
 */
export async function assertRecovered(clients: readonly TestClient[], answers: ReadonlyArray<{ answer: Frame; at: number }>, channel: string, sinces: readonly number[], epoch: string, final: number): Promise<void> {
  for (let i = 0; i < clients.length; i++) {
    const c = clients[i]!;
    const { answer, at } = answers[i]!;
    const where = `shard ${c.welcome!.shard}, ${c.format}`;
    assert.equal(answer['recovered'], true, `recovered (${where})`);
    assert.equal(answer['epoch'], epoch);
    await c.until(() => seqsOf(c, channel).at(-1) === final, 10_000, `messages up to ${final} (${where})`);
    assert.deepEqual(seqsOf(c, channel, at), range(sinces[i]! + 1, final), `exactly ${sinces[i]! + 1}…${final}, once each, in order (${where})`);
    assert.equal(seqsOf(c, channel).length, final - sinces[i]!, `nothing before the subscribed frame (${where})`);
  }
}
