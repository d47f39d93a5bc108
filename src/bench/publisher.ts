/**
 * Drives the publishing, in one of two shapes:
 *
 * - Open loop (--rate R): publish k is due at t0 + k/R whatever happened to earlier ones, and
 *   its payload carries that *scheduled* time. A server (or a client) that falls behind shows
 *   up as latency, not as a politely slower publisher: no coordinated omission.
 * - Closed loop (--inflight N): N lanes, each sending its next publish as soon as the last was
 *   answered, stamped with the actual send time: the most the server accepts.
 *
 * Publish k goes to channel k % channels. Accepted publishes are counted per channel, which
 * is what expected deliveries are computed from.
 */
import { sleep, tally, wallMs } from './clock.js';
import type { PublishIngress, PublishOutcome } from './ingress.js';
import { channelOf, dataJson } from './payload.js';

export interface PublisherPlan {
  readonly channels: number;
  readonly channelPrefix: string;
  readonly size: number;
  readonly rate: number | null;
  readonly inflight: number | null;
  readonly messages: number | null;
  /** Publishing stops after this long whatever --messages says. */
  readonly limitMs: number;
}

/** How publishing ended: everything sent, the time limit cut --messages short, or an abort. */
export type SendOutcome = 'done' | 'time-limit' | 'aborted';

/** A closed-loop lane pauses this long after a refusal, so a refusing server is not hammered in a tight loop. */
const REFUSAL_BACKOFF_MS = 100;

export class Publisher {
  attempted = 0;
  accepted = 0;
  readonly acceptedPerChannel: Float64Array;
  readonly refused: Record<string, number> = {};
  /** Publishes whose outcome is unknown (no answer): they may have been published. */
  unknown = 0;
  outstanding = 0;
  firstSendAt = 0;
  lastSendAt = 0;
  lastAnswerAt = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  /** Open loop: beyond this many unanswered publishes, due publishes are skipped (and counted). */
  private readonly maxOutstanding: number;

  constructor(private readonly ingress: PublishIngress, private readonly plan: PublisherPlan) {
    this.acceptedPerChannel = new Float64Array(plan.channels);
    this.maxOutstanding = Math.min(100_000, Math.max(1000, Math.ceil((plan.rate ?? 0) * 5)));
  }

  /** Sends until done, the time limit, or abort; publishes still in flight are left to `idle()`. */
  async run(signal?: AbortSignal): Promise<SendOutcome> {
    const onAbort = (): void => {
      this.stopped = true;
    };
    signal?.addEventListener('abort', onAbort);
    try {
      const outcome = this.plan.rate !== null ? await this.openLoop(this.plan.rate, signal) : await this.closedLoop(this.plan.inflight ?? 1, signal);
      return signal?.aborted ? 'aborted' : outcome;
    } finally {
      this.stopped = true;
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Resolves once no publish is waiting for an answer. */
  idle(): Promise<void> {
    if (this.outstanding === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async openLoop(rate: number, signal?: AbortSignal): Promise<SendOutcome> {
    const interval = 1000 / rate;
    const t0 = wallMs();
    const endAt = t0 + this.plan.limitMs;
    const max = this.plan.messages ?? Infinity;
    let k = 0;
    while (!this.stopped) {
      const now = wallMs();
      for (;;) {
        const due = t0 + k * interval;
        if (k >= max || due > now || due >= endAt) break;
        if (this.outstanding >= this.maxOutstanding) {
          this.attempted++;
          tally(this.refused, 'not sent: too many publishes outstanding (client backlog)');
        } else {
          void this.send(k, due); // never rejects (outcomes are values); tallied in send(), awaited through idle()
        }
        k++;
      }
      if (k >= max) return 'done';
      const nextDue = t0 + k * interval;
      if (nextDue >= endAt) return this.plan.messages === null ? 'done' : 'time-limit';
      await sleepOrAbort(nextDue - wallMs(), signal);
    }
    return 'aborted';
  }

  private async closedLoop(lanes: number, signal?: AbortSignal): Promise<SendOutcome> {
    const endAt = wallMs() + this.plan.limitMs;
    const max = this.plan.messages ?? Infinity;
    let k = 0;
    const lane = async (): Promise<void> => {
      while (!this.stopped && k < max && wallMs() < endAt) {
        const outcome = await this.send(k++, wallMs());
        if (!outcome.ok && !this.stopped) await sleep(REFUSAL_BACKOFF_MS);
      }
    };
    // A lane stuck on an unanswered publish must not hold the run past its limit.
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, endAt - wallMs()))));
    const abort = new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve(), { once: true }));
    await Promise.race([Promise.all(Array.from({ length: lanes }, lane)), limit, abort]);
    clearTimeout(timer);
    this.stopped = true;
    if (k >= max) return 'done';
    return this.plan.messages === null ? 'done' : 'time-limit';
  }

  /** One publish of index k, stamped `tMs` (scheduled or actual send time). */
  private send(k: number, tMs: number): Promise<PublishOutcome> {
    const now = wallMs();
    if (this.firstSendAt === 0) this.firstSendAt = now;
    this.lastSendAt = now;
    this.attempted++;
    this.outstanding++;
    const channel = k % this.plan.channels;
    return this.ingress.publish(channelOf(this.plan.channelPrefix, this.plan.channels, k), dataJson(k, tMs, this.plan.size)).then((o) => {
      this.lastAnswerAt = wallMs();
      if (o.ok) {
        this.accepted++;
        this.acceptedPerChannel[channel]!++;
      } else {
        tally(this.refused, o.reason);
        if (o.unknown) this.unknown++;
      }
      if (--this.outstanding === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
      return o;
    });
  }
}

function sleepOrAbort(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, Math.max(0, ms));
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
