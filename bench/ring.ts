/**
 * Ring benchmark: how fast src/transport/ring.ts moves frames between threads, compared with
 * postMessage, and how quickly a sleeping consumer wakes up.
 *
 *   node dist/bench/ring.js [--json FILE] [--frames N] [--post-frames N] [--iterations N]
 *
 * Throughput: one producer thread and 1 or 2 consumer threads; 128-byte frames; the ring
 * producer flushes every 64 records (or when full); per-consumer frames/s is measured from
 * the producer's first frame to that consumer's last. postMessage is measured twice: one
 * message per frame, and one message per batch of 64 frames.
 * Latency: ping-pong between two threads, each asleep (waitAsync, or an idle event loop for
 * postMessage) when the other sends; one-way = receiver's clock - sender's clock just before
 * flush()/postMessage (process.hrtime is shared by all threads), plus round trip / 2.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { MessageChannel } from 'node:worker_threads';
import { createRing } from '../src/transport/ring.js';
import { summarizeNs, type Summary } from './stats.js';
import { BenchWorker, stopAll, type Tagged } from './threads.js';
import type { PingPongDone } from './workers/ring-pingpong.js';
import type { PostConsumerDone } from './workers/post-consumer.js';
import type { PostProducerDone } from './workers/post-producer.js';
import type { RingConsumerDone } from './workers/ring-consumer.js';
import type { RingProducerDone } from './workers/ring-producer.js';

const FRAME_BYTES = 128;
const BATCH = 64;
const RING_CAPACITY = 1 << 20;
/** postMessage flow-control window, in frames (see post-producer.ts). */
const POST_WINDOW = 65_536;
/** Pause before each ping, so that the other side is asleep when it arrives. */
const PING_GAP_MICROS = 200;

const { values: args } = parseArgs({
  options: {
    json: { type: 'string' },
    frames: { type: 'string', default: '4000000' },
    'post-frames': { type: 'string', default: '1000000' },
    iterations: { type: 'string', default: '10000' },
  },
});
const RING_FRAMES = Number(args.frames);
const POST_FRAMES = Number(args['post-frames']);
const ITERATIONS = Number(args.iterations);

interface Throughput {
  readonly transport: string;
  readonly consumers: number;
  readonly frames: number;
  readonly perConsumerFramesPerSec: number[];
  /** Producer-side rate (its loop only, not waiting for the consumers to finish). */
  readonly producerFramesPerSec: number;
  /** Producer stalls: ring full (ring) or flow-control window exhausted (postMessage). */
  readonly producerWaits: number;
  /** Times each consumer slept on an empty ring (ring only). */
  readonly consumerSleeps?: number[];
}

const rate = (frames: number, fromNs: number, toNs: number): number => frames / ((toNs - fromNs) / 1e9);
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * Starts consumers once the producer is set up (a ring's slots must be attached, by the
 * producer thread, before their consumers start) and lets the producer go when all are ready.
 */
async function start(producer: BenchWorker, startConsumers: () => BenchWorker[]): Promise<BenchWorker[]> {
  await producer.receive<Tagged>('attached');
  const consumers = startConsumers();
  await Promise.all(consumers.map((c) => c.receive<Tagged>('ready')));
  producer.post('go');
  return consumers;
}

async function ringThroughput(consumerCount: number): Promise<Throughput> {
  const ring = createRing({ capacity: RING_CAPACITY, maxConsumers: consumerCount });
  const producer = new BenchWorker('ring-producer', { ring, consumers: consumerCount, frames: RING_FRAMES, frameBytes: FRAME_BYTES, batch: BATCH });
  const consumers = await start(producer, () =>
    range(consumerCount).map((slot) => new BenchWorker('ring-consumer', { ring, slot, frames: RING_FRAMES })),
  );
  const produced = await producer.receive<RingProducerDone>('done');
  const consumed = await Promise.all(consumers.map((c) => c.receive<RingConsumerDone>('done')));
  await stopAll();
  return {
    transport: `ring (flush every ${BATCH})`,
    consumers: consumerCount,
    frames: RING_FRAMES,
    perConsumerFramesPerSec: consumed.map((d) => rate(RING_FRAMES, produced.startNs, d.endNs)),
    producerFramesPerSec: rate(RING_FRAMES, produced.startNs, produced.endNs),
    producerWaits: produced.fullWaits,
    consumerSleeps: consumed.map((d) => d.sleeps),
  };
}

async function postThroughput(consumerCount: number, batch: number, frames: number): Promise<Throughput> {
  const channels = range(consumerCount).map(() => new MessageChannel());
  const acked = new Int32Array(new SharedArrayBuffer(4 * consumerCount));
  const ports = channels.map((c) => c.port1);
  const producer = new BenchWorker('post-producer', { ports, frames, frameBytes: FRAME_BYTES, batch, acked, window: POST_WINDOW }, ports);
  const consumers = await start(producer, () =>
    channels.map(({ port2: port }, slot) => new BenchWorker('post-consumer', { port, slot, frames, frameBytes: FRAME_BYTES, acked }, [port])),
  );
  const produced = await producer.receive<PostProducerDone>('done');
  const consumed = await Promise.all(consumers.map((c) => c.receive<PostConsumerDone>('done')));
  await stopAll();
  return {
    transport: batch === 1 ? 'postMessage (1 frame/msg)' : `postMessage (${batch} frames/msg)`,
    consumers: consumerCount,
    frames,
    perConsumerFramesPerSec: consumed.map((d) => rate(frames, produced.startNs, d.endNs)),
    producerFramesPerSec: rate(frames, produced.startNs, produced.endNs),
    producerWaits: produced.windowWaits,
  };
}

interface Latency {
  readonly transport: string;
  /** Hops received by a sleeping side: flush()/postMessage -> record in hand. */
  readonly oneWay: Summary;
  /** Half of each round trip measured by the pinger. */
  readonly halfRoundTrip: Summary;
  /** Hops that arrived before the receiver slept (excluded from oneWay): [pinger, ponger]. */
  readonly notAsleep: readonly [number, number];
}

async function pingPong(ping: BenchWorker, pong: BenchWorker, transport: string): Promise<Latency> {
  await Promise.all([ping.receive<Tagged>('attached'), pong.receive<Tagged>('attached')]);
  pong.post('go');
  ping.post('go');
  const [a, b] = await Promise.all([ping.receive<PingPongDone>('done'), pong.receive<PingPongDone>('done')]);
  await stopAll();
  return {
    transport,
    oneWay: summarizeNs([...a.oneWayNs, ...b.oneWayNs]),
    halfRoundTrip: summarizeNs(a.roundTripNs.map((ns) => ns / 2)),
    notAsleep: [a.notAsleep, b.notAsleep],
  };
}

async function ringLatency(): Promise<Latency> {
  const there = createRing({ capacity: 4096, maxConsumers: 1 });
  const back = createRing({ capacity: 4096, maxConsumers: 1 });
  const common = { iterations: ITERATIONS, gapMicros: PING_GAP_MICROS };
  const ping = new BenchWorker('ring-pingpong', { role: 'ping', out: there, in: back, ...common });
  const pong = new BenchWorker('ring-pingpong', { role: 'pong', out: back, in: there, ...common });
  return pingPong(ping, pong, 'ring (flush -> waitAsync)');
}

async function postLatency(): Promise<Latency> {
  const { port1, port2 } = new MessageChannel();
  const common = { iterations: ITERATIONS, gapMicros: PING_GAP_MICROS };
  const ping = new BenchWorker('post-pingpong', { role: 'ping', port: port1, ...common }, [port1]);
  const pong = new BenchWorker('post-pingpong', { role: 'pong', port: port2, ...common }, [port2]);
  return pingPong(ping, pong, 'postMessage');
}

// ------------------------------------------------------------------ report

const mega = (n: number): string => `${(n / 1e6).toFixed(2)}M`;
const us = (n: number): string => n.toFixed(1);

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function run(): Promise<void> {
  const cpus = os.cpus();
  const machine = {
    node: process.version,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    loadavgBefore: os.loadavg(),
    frameBytes: FRAME_BYTES,
    ringCapacity: RING_CAPACITY,
  };
  console.log(`ring bench — node ${machine.node}, ${machine.cpus} CPUs (${machine.cpuModel}), load ${machine.loadavgBefore.map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`${FRAME_BYTES}-byte frames, ring ${RING_CAPACITY >> 10} KiB; running...\n`);

  const throughput: Throughput[] = [];
  for (const consumers of [1, 2]) {
    throughput.push(await ringThroughput(consumers));
    throughput.push(await postThroughput(consumers, 1, POST_FRAMES));
    throughput.push(await postThroughput(consumers, BATCH, RING_FRAMES));
  }
  const latency = [await ringLatency(), await postLatency()];

  const slowest = (t: Throughput): number => Math.min(...t.perConsumerFramesPerSec);
  const ratios = [1, 2].map((consumers) => {
    const of = (prefix: string): Throughput => throughput.find((t) => t.consumers === consumers && t.transport.startsWith(prefix))!;
    const ring = slowest(of('ring'));
    return {
      consumers,
      ringVsPostPerFrame: ring / slowest(of('postMessage (1 ')),
      ringVsPostBatched: ring / slowest(of(`postMessage (${BATCH} `)),
    };
  });

  console.log('Throughput, frames/s per consumer (from the first frame produced to that consumer\'s last)');
  console.log(
    table(
      ['transport', 'consumers', 'frames', 'per consumer', 'producer', 'producer waits', 'consumer sleeps'],
      throughput.map((t) => [
        t.transport,
        String(t.consumers),
        t.frames.toLocaleString('en-US'),
        t.perConsumerFramesPerSec.map(mega).join(' / '),
        mega(t.producerFramesPerSec),
        String(t.producerWaits),
        t.consumerSleeps?.join(' / ') ?? '-',
      ]),
    ),
  );
  console.log('\nRing vs postMessage (slowest consumer of each run)');
  for (const r of ratios) {
    console.log(`  ${r.consumers} consumer(s): ring is ${r.ringVsPostPerFrame.toFixed(1)}x postMessage per frame, ${r.ringVsPostBatched.toFixed(1)}x postMessage of ${BATCH}-frame batches`);
  }
  console.log(`\nWake-up latency, µs (${ITERATIONS} ping-pongs, ${PING_GAP_MICROS} µs pause before each ping)`);
  console.log(
    table(
      ['transport', 'one-way p50', 'p90', 'p99', 'max', 'RTT/2 p50', 'RTT/2 p99', 'samples', 'not asleep (ping / pong)'],
      latency.map((l) => [
        l.transport,
        us(l.oneWay.p50),
        us(l.oneWay.p90),
        us(l.oneWay.p99),
        us(l.oneWay.max),
        us(l.halfRoundTrip.p50),
        us(l.halfRoundTrip.p99),
        String(l.oneWay.samples),
        l.notAsleep.join(' / '),
      ]),
    ),
  );

  if (args.json !== undefined) {
    const report = { machine: { ...machine, loadavgAfter: os.loadavg() }, throughput, ratios, latency };
    mkdirSync(dirname(args.json), { recursive: true });
    writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`\nJSON written to ${args.json}`);
  }
}

await run().finally(stopAll);
