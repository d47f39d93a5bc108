/**
 * Reconnect delays: exponential back-off with full jitter. Every client of a restarted shard
 * is closed at the same instant; a fixed delay would bring them all back at the same instant
 * too. Full jitter (a uniform draw from 0 up to the exponential cap) spreads them over the
 * whole window, which keeps the load of the reconnect storm lowest (AWS architecture blog,
 * "Exponential Backoff And Jitter").
 */
export interface BackoffOptions {
  /** Cap of the first delay, ms (default 500). */
  readonly initialMs?: number;
  /** Largest cap, ms (default 30000): delays never exceed it. */
  readonly maxMs?: number;
  /** Growth of the cap per failed attempt (default 2). */
  readonly factor?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { initialMs: 500, maxMs: 30_000, factor: 2 };

/** The delay before attempt `attempt` (0 for the first reconnect): uniform in [0, min(max, initial·factor^attempt)). */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const { initialMs, maxMs, factor } = { ...DEFAULT_BACKOFF, ...options };
  const cap = Math.min(maxMs, initialMs * Math.pow(factor, Math.max(0, attempt)));
  return Math.floor(random() * cap);
}
