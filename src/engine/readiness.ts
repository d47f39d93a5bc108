/**
 * Readiness — the answer of GET /readyz, from what the main thread knows: which shards are
 * listening (the Supervisor), whether the broker can publish (the Redis broker's `brokerUp`
 * gauge; the memory broker always can), and whether the server is starting or stopping.
 * Orchestrators take a node out of rotation on 503, so the body names what is missing.
 * `/healthz` stays "the process is alive": a shard restart is not a reason to kill it.
 */
import type { HttpAnswer } from './control.js';

export interface ReadinessInput {
  /** Per shard: its listen socket is open (false while it starts, restarts or was cut loose). */
  readonly listening: readonly boolean[];
  /** 'memory', or 'redis' with whether its connection is ready. */
  readonly broker: 'memory' | 'redis';
  readonly brokerUp: boolean;
  /** Before start() finished, or once close() was called. */
  readonly phase: 'starting' | 'running' | 'stopping';
}

export function readiness(r: ReadinessInput): HttpAnswer {
  const missing: string[] = [];
  if (r.phase !== 'running') missing.push(r.phase === 'starting' ? 'server: starting' : 'server: shutting down');
  r.listening.forEach((up, shard) => {
    if (!up) missing.push(`shard ${shard}: not listening`);
  });
  if (r.broker === 'redis' && !r.brokerUp) missing.push('broker: Redis unreachable');
  const listening = r.listening.filter(Boolean).length;
  const body = JSON.stringify({ ready: missing.length === 0, shards: { listening, of: r.listening.length }, broker: r.broker === 'memory' ? 'memory' : r.brokerUp ? 'redis: up' : 'redis: down', ...(missing.length > 0 ? { missing } : {}) });
  return { status: missing.length === 0 ? 200 : 503, contentType: 'application/json', body };
}
