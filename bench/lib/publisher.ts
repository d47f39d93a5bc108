/**
 * Drives `POST /api/publish`. Two shapes:
 * - open loop: message k is sent at t0 + k/rate whatever happened to earlier ones, so a slow
 *   server shows up as latency rather than as a politely slower publisher;
 * - saturation: a fixed window of requests in flight, each sent as soon as the last returns.
 * Every request stamps its data with the shared monotonic clock at send time. 503s are
 * retried after Retry-After (the server is allowed to shed load; we count how often it did).
 */
import http from 'node:http';
import { monoMicros, sleep } from './clock.js';
import { publishBody } from './payload.js';

export interface PublishStats {
  ok: number;
  /** Indexes the server acknowledged with 200: every subscriber must receive these. */
  acked: number[];
  /** Requests that were sent but got no answer (timeout, reset): the server may or may not have published them. */
  unanswered: number;
  /** 503 responses (each retried). */
  rejected: number;
  /** Messages given up on: transport errors, other statuses, too many 503s, or out of time. */
  failed: number;
  firstSendMicros: number;
  lastSendMicros: number;
  lastAckMicros: number;
  errors: Record<string, number>;
}

const MAX_ATTEMPTS = 50;
const DEFAULT_RETRY_MS = 50;
const MAX_RETRY_MS = 5_000;

export class Publisher {
  private readonly agent: http.Agent;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly apiKey: string,
    private readonly channel: string,
    maxSockets = 64,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  close(): void {
    this.agent.destroy();
  }

  async openLoop(base: number, count: number, rate: number, deadlineMs: number): Promise<PublishStats> {
    const stats = newStats();
    const inflight = new Set<Promise<void>>();
    const t0 = monoMicros();
    const stopAt = Date.now() + deadlineMs;
    const intervalMicros = 1e6 / rate;
    let k = 0;
    while (k < count && Date.now() < stopAt) {
      const due = t0 + k * intervalMicros;
      const now = monoMicros();
      if (now < due) {
        await sleep(Math.max(0, Math.floor((due - now) / 1000)));
        continue;
      }
      // Send everything that is due; the loop above only sleeps when ahead of schedule.
      while (k < count && t0 + k * intervalMicros <= now) {
        const p = this.publishUntilAccepted(base + k, stats, stopAt).finally(() => inflight.delete(p));
        inflight.add(p);
        k++;
      }
    }
    stats.failed += count - k;
    await Promise.all(inflight);
    return stats;
  }

  async saturate(base: number, count: number, window: number, deadlineMs: number): Promise<PublishStats> {
    const stats = newStats();
    const stopAt = Date.now() + deadlineMs;
    let k = 0;
    const lane = async (): Promise<void> => {
      while (k < count && Date.now() < stopAt) await this.publishUntilAccepted(base + k++, stats, stopAt);
    };
    await Promise.all(Array.from({ length: Math.max(1, window) }, lane));
    stats.failed += count - k;
    return stats;
  }

  private async publishUntilAccepted(index: number, stats: PublishStats, stopAt: number): Promise<void> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS && Date.now() < stopAt; attempt++) {
      const sentAt = monoMicros();
      if (stats.firstSendMicros === 0) stats.firstSendMicros = sentAt;
      let res: { status: number; retryAfter: string | undefined };
      try {
        res = await this.post(publishBody(this.channel, index, sentAt));
      } catch (err) {
        if (err instanceof StaleSocketError) {
          count(stats.errors, 'retried: keep-alive socket reset before any response');
          continue;
        }
        count(stats.errors, `transport: ${(err as Error).message}`);
        stats.unanswered++;
        break;
      }
      if (res.status === 200) {
        stats.ok++;
        stats.acked.push(index);
        stats.lastSendMicros = Math.max(stats.lastSendMicros, sentAt);
        stats.lastAckMicros = Math.max(stats.lastAckMicros, monoMicros());
        return;
      }
      if (res.status !== 503) {
        count(stats.errors, `HTTP ${res.status}`);
        break;
      }
      stats.rejected++;
      const seconds = Number(res.retryAfter);
      await sleep(Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds * 1000, MAX_RETRY_MS) : DEFAULT_RETRY_MS);
    }
    stats.failed++;
  }

  private post(body: string): Promise<{ status: number; retryAfter: string | undefined }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: this.host,
          port: this.port,
          method: 'POST',
          path: '/api/publish',
          agent: this.agent,
          headers: {
            authorization: `Bearer ${this.apiKey}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
          // Generous: an overloaded hub answers very late, and an unanswered publish blurs loss accounting.
          timeout: 60_000,
        },
        (res) => {
          res.resume(); // the body ({"seq":n}) is not needed; drain it to free the socket
          res.once('end', () => {
            const ra = res.headers['retry-after'];
            resolve({ status: res.statusCode ?? 0, retryAfter: Array.isArray(ra) ? ra[0] : ra });
          });
          res.once('error', reject);
        },
      );
      req.once('timeout', () => req.destroy(new Error('request timeout')));
      req.once('error', (err: NodeJS.ErrnoException) => {
        // The server may close an idle keep-alive socket just as we reuse it; the request
        // never reached it, so retrying cannot duplicate a publish (Node's documented pattern).
        reject(req.reusedSocket && err.code === 'ECONNRESET' ? new StaleSocketError() : err);
      });
      req.end(body);
    });
  }
}

class StaleSocketError extends Error {}

function newStats(): PublishStats {
  return { ok: 0, acked: [], unanswered: 0, rejected: 0, failed: 0, firstSendMicros: 0, lastSendMicros: 0, lastAckMicros: 0, errors: {} };
}

function count(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}
