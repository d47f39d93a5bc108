/**
 * An attacker thread: runs its share of the attack loops against the server until the
 * attack's end time (or a 'stop' message), closes every socket it opened, and posts its tally.
 * The attackers live in their own threads so that the healthy subscribers, in another, are
 * never starved by the attack's CPU use in a shared event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { mulberry32 } from '../../test/fixtures/prng.js';
import type { AttackSocket } from './attack-socket.js';
import { threadShare, type AttackMix } from './attack-mix.js';
import { httpAbuseLoop } from './http-abuser.js';
import { Tally } from './tally.js';
import { connectionChurnLoop, floodLoop, malformedLoop, rawViolationLoop, subscriptionChurnLoop, type AttackContext } from './ws-attacks.js';

export interface AttackerInit {
  role: 'ws' | 'http';
  thread: number;
  port: number;
  apiKey: string;
  localAddress: string;
  seed: number;
  /** Date.now() at which every loop stops by itself. */
  endsAt: number;
  mix: AttackMix;
  maxPayload: number;
  maxSubscriptions: number;
  skip: string[];
}

export type AttackerMessage = { type: 'done'; tally: Tally['data']; ms: number } | { type: 'failed'; error: string };

const init = workerData as AttackerInit;
const tally = new Tally();
const open = new Set<AttackSocket>();
let stop = false;
parentPort!.on('message', (m: { type: string }) => {
  if (m.type === 'stop') stop = true;
});
const stopped = (): boolean => stop || Date.now() >= init.endsAt;
const started = Date.now();

async function main(): Promise<void> {
  const loops: Array<Promise<void>> = [];
  // each loop draws from its own PRNG, so what one loop does does not depend on another's timing
  let stream = 0;
  const rng = (): (() => number) => mulberry32(init.seed * 1000 + stream++);
  if (init.role === 'http') {
    for (let i = 0; i < init.mix.httpAbusers + init.mix.slowHttp; i++) {
      const ctx = { port: init.port, localAddress: init.localAddress, apiKey: init.apiKey, maxPayload: init.maxPayload, rng: rng(), tally, stopped, skip: init.skip };
      loops.push(httpAbuseLoop(ctx, i >= init.mix.httpAbusers));
    }
  } else {
    const share = threadShare(init.mix, init.thread);
    const ctx = (): AttackContext => ({
      port: init.port, localAddress: init.localAddress, tally, open, rng: rng(), stopped,
      maxPayload: init.maxPayload, maxSubscriptions: init.maxSubscriptions, prefix: `t${init.thread}`, skip: init.skip,
    });
    for (let i = 0; i < share.flooders; i++) loops.push(floodLoop(ctx(), init.thread * 1000 + i, init.mix.floodWindowBytes));
    for (let i = 0; i < share.malformed; i++) loops.push(malformedLoop({ ...ctx(), prefix: `t${init.thread}.${i}` }));
    for (let i = 0; i < share.rawViolators; i++) loops.push(rawViolationLoop(ctx()));
    for (let i = 0; i < share.churners; i++) loops.push(subscriptionChurnLoop({ ...ctx(), prefix: `t${init.thread}.${i}` }));
    for (let i = 0; i < share.connectionChurners; i++) loops.push(connectionChurnLoop({ ...ctx(), prefix: `t${init.thread}.${i}` }));
  }
  try {
    const results = await Promise.allSettled(loops);
    for (const r of results) if (r.status === 'rejected') tally.unexpected('attacker loop failed', String((r.reason as Error)?.stack ?? r.reason));
  } finally {
    for (const s of open) s.close();
  }
  parentPort!.postMessage({ type: 'done', tally: tally.data, ms: Date.now() - started } satisfies AttackerMessage);
}

main().catch((err: Error) => parentPort!.postMessage({ type: 'failed', error: err.stack ?? err.message } satisfies AttackerMessage));
