/**
 * The WebSocket attacks, one loop each. Every loop runs until `stopped()` turns true, opens a
 * new connection whenever the server closes its current one (the server's answer is counted,
 * the attack goes on), and leaves no socket open when it returns.
 *
 * - flood: publishes of random sizes as fast as the socket takes them, some subscribed to
 *   what they flood (so the shards fan the flood back out);
 * - malformed: the catalogue of bad frames (malformed-frames.ts), each answer checked;
 * - raw violations: WebSocket protocol violations on hand-made connections;
 * - subscription churn: subscribe/unsubscribe over never-repeating channel names, up to and
 *   past --max-subscriptions, sometimes dropping the connection with everything subscribed;
 * - connection churn: connections opened and closed every way a client can.
 */
import net from 'node:net';
import { between } from '../../test/fixtures/prng.js';
import { isSkipped } from './attack-mix.js';
import { AttackSocket, type ServerFrame, type Target } from './attack-socket.js';
import { nextBadFrame, type BadFrame } from './malformed-frames.js';
import { rawViolation } from './raw-websocket.js';
import { LEGIT_CLOSE_CODES, LEGIT_ERROR_CODES } from './settings.js';

export interface AttackContext extends Target {
  readonly rng: () => number;
  readonly stopped: () => boolean;
  readonly maxPayload: number;
  readonly maxSubscriptions: number;
  /** Unique per thread: ack ids and channel names never collide across threads. */
  readonly prefix: string;
  /** Bad-frame kinds left out of this run (see isSkipped). */
  readonly skip: readonly string[];
}


/** Flooders publish on this many channels (a bounded set: the sequencer keeps one entry per channel ever published). */
export const FLOOD_CHANNELS = 32;
/** How long an answer may take before the server counts as not answering. */
const ANSWER_TIMEOUT_MS = 15_000;
/** Malformed frames in flight per connection. */
const MALFORMED_WINDOW = 8;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function floodLoop(ctx: AttackContext, n: number, windowBytes: number): Promise<void> {
  const { rng, tally } = ctx;
  const pad = 'x'.repeat(ctx.maxPayload);
  const channel = `flood:${n % FLOOD_CHANNELS}`;
  let k = 0;
  while (!ctx.stopped()) {
    const s = await AttackSocket.open(ctx, 'flood');
    if (s === null) {
      await sleep(100);
      continue;
    }
    if (rng() % 4 === 0) s.send(`{"type":"subscribe","channel":"${channel}"}`);
    while (s.closed === null && !ctx.stopped()) {
      // (a socket the server is closing takes no more: send() is then a no-op)
      while (s.bufferedAmount < windowBytes && s.writable) {
        // mostly small, some up to the limit (the frame's own fields take < 200 bytes)
        const size = rng() % 10 < 7 ? between(rng, 0, 1024) : between(rng, 1024, ctx.maxPayload - 200);
        const id = rng() % 2 === 0 ? `"id":"${ctx.prefix}f${k++}",` : '';
        s.send(`{"type":"publish","channel":"${channel}",${id}"data":"${pad.slice(0, size)}"}`);
        tally.add('sent', 'flood publish');
        tally.add('sent', 'flood bytes', size);
      }
      await sleep(5);
    }
    s.close();
  }
}

export async function malformedLoop(ctx: AttackContext): Promise<void> {
  const { rng, tally } = ctx;
  let n = 0;
  while (!ctx.stopped()) {
    const s = await AttackSocket.open(ctx, 'malformed');
    if (s === null) {
      await sleep(100);
      continue;
    }
    const fifo: BadFrame[] = [];
    const byId = new Map<string, BadFrame>();
    const pending = (): number => fifo.length + byId.size;
    s.onFrame = (m, text) => {
      if (m.type === 'welcome') return;
      const key = m.type === 'ack' ? m['id'] : m.type === 'error' ? m['ref'] : undefined;
      let f: BadFrame | undefined;
      if (typeof key === 'string' && byId.has(key)) {
        f = byId.get(key);
        byId.delete(key);
      } else {
        f = fifo.shift();
      }
      if (f === undefined) return tally.unexpected('an answer to no frame', text);
      judge(ctx, f, m, text);
    };
    while (s.closed === null && !ctx.stopped()) {
      let f = nextBadFrame(rng, `${ctx.prefix}m${n++}`, ctx.maxPayload);
      while (isSkipped(f.kind, ctx.skip)) f = nextBadFrame(rng, `${ctx.prefix}m${n++}`, ctx.maxPayload);
      if (f.closes && !(await s.until(() => pending() === 0, ANSWER_TIMEOUT_MS))) {
        tally.unexpected('no answer', `malformed: ${describe(fifo, byId)} unanswered after ${ANSWER_TIMEOUT_MS} ms`);
        break;
      }
      if (s.closed !== null) break;
      tally.add('sent', `malformed ${f.kind}`);
      if (f.id === undefined) fifo.push(f);
      else byId.set(f.id, f);
      sendBad(s, f);
      if (f.closes) {
        const code = await s.waitClosed(ANSWER_TIMEOUT_MS);
        if (code === null) tally.unexpected('not closed', `${f.kind}: the connection stayed open`);
        else tally.add('verdict:malformed', `${f.kind} → close ${code}`);
        break;
      }
      if (pending() >= MALFORMED_WINDOW && !(await s.until(() => pending() < MALFORMED_WINDOW, ANSWER_TIMEOUT_MS))) {
        tally.unexpected('no answer', `malformed: ${describe(fifo, byId)} unanswered after ${ANSWER_TIMEOUT_MS} ms`);
        break;
      }
    }
    // answers still due when the run ends get a moment to arrive
    if (s.closed === null && pending() > 0 && !(await s.until(() => pending() === 0, 5000))) {
      tally.unexpected('no answer', `malformed at the end: ${describe(fifo, byId)}`);
    }
    // a close we did not ask for (counted, and judged, by its code) takes the answers still due with it
    if (s.closed !== null && [...fifo, ...byId.values()].some((f) => !f.closes)) tally.add('verdict:malformed', 'answers lost to a close');
    s.close();
  }
}

function sendBad(s: AttackSocket, f: BadFrame): void {
  if (typeof f.payload === 'string' || Buffer.isBuffer(f.payload)) {
    s.send(f.payload, f.binary);
    return;
  }
  f.payload.forEach((part, i) => s.send(part, f.binary, i === f.payload.length - 1));
}

function judge(ctx: AttackContext, f: BadFrame, m: ServerFrame, text: string): void {
  if (m.type === 'error') {
    const code = String(m['code']);
    const right = LEGIT_ERROR_CODES.has(code) && (f.errors === 'any' || f.errors.includes(code));
    if (right) ctx.tally.add('verdict:malformed', `${f.kind} → ${code}`);
    else ctx.tally.unexpected(`wrong answer to ${f.kind}`, `expected ${[...f.replies, ...(f.errors === 'any' ? ['any error'] : f.errors)].join('|')}, got ${text}`);
    return;
  }
  if ((f.replies as readonly string[]).includes(m.type)) ctx.tally.add('verdict:malformed', `${f.kind} → ${m.type}`);
  else ctx.tally.unexpected(`wrong answer to ${f.kind}`, `expected ${[...f.replies, ...(f.errors === 'any' ? ['any error'] : f.errors)].join('|')}, got ${text}`);
}

function describe(fifo: readonly BadFrame[], byId: ReadonlyMap<string, BadFrame>): string {
  return [...fifo, ...byId.values()].map((f) => f.kind).join(', ');
}

export async function rawViolationLoop(ctx: AttackContext): Promise<void> {
  while (!ctx.stopped()) {
    const o = await rawViolation(ctx.rng, ctx.port, ctx.localAddress, 3000);
    ctx.tally.add('sent', `raw ${o.kind}`);
    ctx.tally.add('answer:raw', `${o.kind} → ${o.result}${o.closeCode === null ? '' : ` ${o.closeCode}`}`);
    if (o.closeCode !== null && !LEGIT_CLOSE_CODES.has(o.closeCode)) ctx.tally.unexpected(`close ${o.closeCode}`, `raw ${o.kind}`);
    for (const t of o.textFrames) {
      const code = /"code":"([^"]*)"/.exec(t)?.[1];
      if (code !== undefined && !LEGIT_ERROR_CODES.has(code)) ctx.tally.unexpected(`error code ${code}`, `raw ${o.kind}: ${t}`);
    }
    if (o.result === 'refused' || o.result === 'error') await sleep(50); // no busy loop against a port nobody answers
  }
}

export async function subscriptionChurnLoop(ctx: AttackContext): Promise<void> {
  const { rng, tally, maxSubscriptions } = ctx;
  let serial = 0;
  while (!ctx.stopped()) {
    const s = await AttackSocket.open(ctx, 'churn');
    if (s === null) {
      await sleep(100);
      continue;
    }
    let answers = 0;
    let tooMany = 0;
    s.onFrame = (m, text) => {
      if (m.type === 'welcome') return;
      answers++;
      if (m.type === 'error' && m['code'] === 'too_many_subscriptions') tooMany++;
      else if (m.type === 'subscribed' && m['seq'] !== 0) tally.unexpected('subscribed seq', `nobody publishes on churn channels, got ${text}`);
      else if (m.type !== 'subscribed' && m.type !== 'unsubscribed') tally.unexpected('wrong answer to a subscription', text);
    };
    while (s.closed === null && !ctx.stopped()) {
      // now and then a few past the limit: exactly those must be refused
      const over = rng() % 8 === 0 ? between(rng, 1, 5) : 0;
      const count = over > 0 ? maxSubscriptions + over : between(rng, 1, maxSubscriptions);
      const names = Array.from({ length: count }, () => `churn.${ctx.prefix}.${serial++}`);
      answers = 0;
      tooMany = 0;
      for (const c of names) s.send(`{"type":"subscribe","channel":"${c}"}`);
      tally.add('sent', 'churn subscribe', count);
      if (!(await s.until(() => answers === count, ANSWER_TIMEOUT_MS))) {
        tally.unexpected('no answer', `${count - answers} of ${count} subscribes unanswered`);
        break;
      }
      if (s.closed !== null) break;
      if (tooMany !== over) tally.unexpected('subscription limit', `${count} subscribes on a fresh set, limit ${maxSubscriptions}: ${tooMany} refused`);
      if (rng() % 5 === 0) {
        tally.add('sent', 'churn dropped with subscriptions');
        break; // the server must clean up what this connection held
      }
      answers = 0;
      for (const c of names) s.send(`{"type":"unsubscribe","channel":"${c}"}`);
      tally.add('sent', 'churn unsubscribe', count);
      if (!(await s.until(() => answers === count, ANSWER_TIMEOUT_MS))) {
        tally.unexpected('no answer', `${count - answers} of ${count} unsubscribes unanswered`);
        break;
      }
    }
    s.close();
  }
}

export async function connectionChurnLoop(ctx: AttackContext): Promise<void> {
  const { rng, tally } = ctx;
  while (!ctx.stopped()) {
    const mode = rng() % 5;
    if (mode === 0 || mode === 1 || mode === 4) {
      const s = await AttackSocket.open(ctx, 'connection-churn');
      if (s === null) {
        await sleep(50);
        continue;
      }
      if (mode === 0) {
        tally.add('sent', 'churn connect, close 1000');
        await s.until(() => false, between(rng, 0, 50));
        s.close(1000);
        if ((await s.waitClosed(5000)) === null) {
          tally.unexpected('close handshake', 'no close frame within 5 s after ours');
          s.close();
        }
      } else if (mode === 1) {
        tally.add('sent', 'churn connect, drop');
        s.close();
      } else {
        tally.add('sent', 'churn connect, subscribe, ping, drop');
        let pong = false;
        s.onFrame = (m) => {
          if (m.type === 'pong') pong = true;
        };
        for (let i = 0; i < 3; i++) s.send(`{"type":"subscribe","channel":"cc.${ctx.prefix}.${rng() % 1000}"}`);
        s.send('{"type":"ping"}');
        if (!(await s.until(() => pong, ANSWER_TIMEOUT_MS))) tally.unexpected('no answer', 'ping after subscribes');
        s.close();
      }
    } else {
      // half an upgrade, or nothing at all, then gone
      tally.add('sent', mode === 2 ? 'churn half handshake' : 'churn tcp connect only');
      await new Promise<void>((resolve) => {
        const sock = net.connect({ port: ctx.port, host: '127.0.0.1', localAddress: ctx.localAddress });
        const done = (): void => {
          sock.destroy();
          resolve();
        };
        sock.once('error', done);
        sock.once('connect', () => {
          if (mode === 2) sock.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Up`);
          setTimeout(done, between(rng, 0, 100));
        });
        setTimeout(done, 5000);
      });
    }
  }
}
