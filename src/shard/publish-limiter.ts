/**
 * PublishLimiter — the per-connection publish rate limit (--client-publish-rate, a token
 * bucket of --client-publish-burst). Within the limit a publish takes a token. Over it the
 * publish is refused (`rate_limited`: nothing is sequenced) and the bucket goes into debt by
 * one; the debt is paid back at the same rate. A client that ignores the refusals and runs up
 * more than one further burst of debt is abusing the server and is closed (1008). A client
 * that backs off when told never gets there. The state is two numbers on the connection, so
 * no client can slow another, and there is no per-server table to grow.
 */
import type { Client } from './context.js';

export const enum Verdict {
  Accept,
  Refuse,
  Close,
}

export class PublishLimiter {
  /** Tokens per millisecond. */
  private readonly perMs: number;

  constructor(
    /** Publishes per second; 0 turns the limit off. */
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.perMs = rate / 1000;
  }

  /** The bucket a new connection starts with: a full burst. */
  open(client: Client, now: number): void {
    client.tokens = this.burst;
    client.tokensAt = now;
  }

  take(client: Client, now: number): Verdict {
    if (this.rate === 0) return Verdict.Accept;
    const tokens = Math.min(this.burst, client.tokens + (now - client.tokensAt) * this.perMs) - 1;
    client.tokens = tokens;
    client.tokensAt = now;
    if (tokens >= 0) return Verdict.Accept;
    return tokens < -this.burst ? Verdict.Close : Verdict.Refuse;
  }
}
