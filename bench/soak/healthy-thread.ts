/**
 * The healthy side of the run, in its own thread: well-behaved subscribers (on at least two
 * shards, from `welcome.shard`) on a few channels no attacker touches, a publisher sending a
 * steady stream there over HTTP (with the API key), and /healthz probes on fresh connections.
 * Everything goes into the HealthyLedger; the verdict is posted when the orchestrator says
 * stop, after the subscribers have caught up (or the drain time is over).
 *
 * Messages and figures: healthy-protocol.ts.
 */
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';
import { between, mulberry32 } from '../../test/fixtures/prng.js';
import { PHASES, type HealthyInit, type HealthyMessage, type Phase, type PhaseFigures } from './healthy-protocol.js';
import { HealthyLedger } from './ledger.js';

const init = workerData as HealthyInit;
const REQUEST_TIMEOUT_MS = 10_000;
const PROBE_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 10_000;

const ledger = new HealthyLedger(init.channels);
const sockets: WebSocket[] = [];
let ending = false;
let phase: Phase = 'before';
const phases = Object.fromEntries(PHASES.map((p) => [p, { published: 0, accepted: 0, refused: {}, unanswered: 0, skipped: 0, probesOk: 0, probesFailed: 0, probeMaxMs: 0 }])) as Record<Phase, PhaseFigures>;
const probeFailures: string[] = [];
const post = (m: HealthyMessage): void => parentPort!.postMessage(m);

/** Connects one subscriber, subscribes it to every healthy channel; resolves with its shard. */
function subscriber(index: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${init.port}/ws`, { perMessageDeflate: false, localAddress: init.localAddress, handshakeTimeout: CONNECT_TIMEOUT_MS });
    sockets.push(ws);
    let shard = -1;
    let pending = init.channels.length;
    const timer = setTimeout(() => reject(new Error(`healthy subscriber ${index}: not subscribed within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    ws.on('message', (raw: Buffer) => {
      const v = JSON.parse(raw.toString('utf8')) as Record<string, unknown> | Array<Record<string, unknown>>;
      for (const m of Array.isArray(v) ? v : [v]) {
        if (m['type'] === 'message') {
          ledger.receive(index, m['channel'] as string, m['seq'] as number, (m['data'] as { n: number }).n);
        } else if (m['type'] === 'welcome') {
          shard = m['shard'] as number;
          for (const c of init.channels) ws.send(JSON.stringify({ type: 'subscribe', channel: c }));
        } else if (m['type'] === 'subscribed') {
          ledger.subscribed(index, m['channel'] as string, m['seq'] as number);
          if (--pending === 0) {
            clearTimeout(timer);
            resolve(shard);
          }
        } else {
          reject(new Error(`healthy subscriber ${index}: unexpected ${JSON.stringify(m)}`));
        }
      }
    });
    ws.on('close', (code) => {
      if (!ending) ledger.closedEarly(index, code);
      reject(new Error(`healthy subscriber ${index} closed (${code}) while subscribing`));
    });
    ws.on('error', () => {}); // the close event carries it
  });
}

async function connectSubscribers(): Promise<number[]> {
  const shards: number[] = [];
  for (let i = 0; i < init.subscribers * 4; i++) {
    if (i >= init.subscribers && new Set(shards).size >= init.minShards) break;
    shards.push(await subscriber(i));
  }
  return shards;
}

// ------------------------------------------------------------------ publisher

const agent = new http.Agent({ keepAlive: true, maxSockets: init.maxInflight });
const rng = mulberry32(init.seed);
let serial = 0;
let inflight = 0;

function publishOne(): void {
  const f = phases[phase];
  if (inflight >= init.maxInflight) {
    f.skipped++;
    return;
  }
  const n = ++serial;
  const channel = init.channels[n % init.channels.length]!;
  const body = JSON.stringify({ channel, data: { n, pad: 'h'.repeat(between(rng, init.padBytes[0], init.padBytes[1])) } });
  inflight++;
  f.published++;
  const req = http.request({
    host: '127.0.0.1', port: init.port, method: 'POST', path: '/api/publish', agent, localAddress: init.localAddress, timeout: REQUEST_TIMEOUT_MS,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${init.apiKey}` },
  }, (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      inflight--;
      const text = Buffer.concat(chunks).toString('utf8');
      if (res.statusCode === 200) {
        ledger.accept(channel, (JSON.parse(text) as { seq: number }).seq, n);
        f.accepted++;
      } else {
        const code = /"code":"([^"]*)"/.exec(text)?.[1] ?? '';
        const key = `${res.statusCode} ${code}`.trim();
        f.refused[key] = (f.refused[key] ?? 0) + 1;
      }
    });
    res.on('error', () => {});
  });
  let failed = false;
  const fail = (): void => {
    if (failed) return;
    failed = true;
    inflight--;
    f.unanswered++;
    req.destroy();
  };
  req.on('timeout', fail);
  req.on('error', fail);
  req.end(body);
}

function probe(): void {
  const f = phases[phase];
  const t0 = Date.now();
  const req = http.get({ host: '127.0.0.1', port: init.port, path: '/healthz', agent: false, localAddress: init.localAddress, timeout: PROBE_TIMEOUT_MS }, (res) => {
    res.resume();
    res.on('end', () => {
      const ms = Date.now() - t0;
      f.probeMaxMs = Math.max(f.probeMaxMs, ms);
      if (res.statusCode === 200) f.probesOk++;
      else {
        f.probesFailed++;
        probeFailures.push(`${phase}: HTTP ${res.statusCode} after ${ms} ms`);
      }
    });
  });
  let failed = false;
  const fail = (why: string): void => {
    if (failed) return;
    failed = true;
    f.probesFailed++;
    probeFailures.push(`${phase}: ${why} after ${Date.now() - t0} ms`);
    req.destroy();
  };
  req.on('timeout', () => fail('no answer'));
  req.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
}

// ------------------------------------------------------------------ control

let publishTimer: NodeJS.Timeout | null = null;
let probeTimer: NodeJS.Timeout | null = null;

parentPort!.on('message', (m: { type: string; phase?: Phase }) => {
  if (m.type === 'start') {
    publishTimer = setInterval(publishOne, init.intervalMs);
    probeTimer = setInterval(probe, init.probeIntervalMs);
  } else if (m.type === 'phase') {
    phase = m.phase!;
  } else if (m.type === 'stop') {
    void finish().catch((err: Error) => post({ type: 'failed', error: err.stack ?? err.message }));
  }
});

async function finish(): Promise<void> {
  if (publishTimer) clearInterval(publishTimer);
  if (probeTimer) clearInterval(probeTimer);
  const deadline = Date.now() + init.drainMs;
  while (inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  let drained = false;
  while (Date.now() < deadline && !(drained = ledger.caughtUp())) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300)); // a duplicate would arrive right behind
  ending = true;
  for (const ws of sockets) ws.terminate();
  agent.destroy();
  post({ type: 'result', result: { shards: shardsSeen, ledger: ledger.verdict(), phases, probeFailures: probeFailures.slice(0, 20), drained } });
}

let shardsSeen: number[] = [];
connectSubscribers().then(
  (shards) => {
    shardsSeen = shards;
    post({ type: 'ready', shards });
  },
  (err: Error) => {
    ending = true;
    for (const ws of sockets) ws.terminate();
    agent.destroy();
    post({ type: 'failed', error: err.message });
  },
);
