/**
 * Attack mixes: how many of each attacker run at once, and how they are spread over the
 * attacker threads. The short mix is for the normal test suite on a small shared machine;
 * the soak mix is heavier. Both are bounded: a fixed number of loops, each running until the
 * attack's end time.
 */

export interface AttackMix {
  /** Threads the WebSocket attackers are spread over (the HTTP abusers get one more). */
  readonly threads: number;
  /** Clients flooding publishes, each keeping `floodWindowBytes` in its send buffer. */
  readonly flooders: number;
  readonly floodWindowBytes: number;
  /** Connections sending bad frames (malformed-frames.ts), eight in flight each. */
  readonly malformed: number;
  /** Hand-made connections breaking the WebSocket protocol, one at a time each. */
  readonly rawViolators: number;
  /** Connections subscribing and unsubscribing never-repeating channel names. */
  readonly churners: number;
  /** Loops opening and closing connections every way a client can. */
  readonly connectionChurners: number;
  /** HTTP abusers back to back, and slow-body writers. */
  readonly httpAbusers: number;
  readonly slowHttp: number;
}

export const SHORT_MIX: AttackMix = {
  threads: 2,
  flooders: 16,
  floodWindowBytes: 128 * 1024,
  malformed: 6,
  rawViolators: 2,
  churners: 6,
  connectionChurners: 4,
  httpAbusers: 4,
  slowHttp: 4,
};

export const SOAK_MIX: AttackMix = {
  threads: 2,
  flooders: 48,
  floodWindowBytes: 256 * 1024,
  malformed: 12,
  rawViolators: 4,
  churners: 12,
  connectionChurners: 8,
  httpAbusers: 6,
  slowHttp: 12,
};

export type WsAttacker = 'flooders' | 'malformed' | 'rawViolators' | 'churners' | 'connectionChurners';
export const WS_ATTACKERS: readonly WsAttacker[] = ['flooders', 'malformed', 'rawViolators', 'churners', 'connectionChurners'];

/** This thread's share of each WebSocket attacker (the remainder goes to the first threads). */
export function threadShare(mix: AttackMix, thread: number): Record<WsAttacker, number> {
  const out = {} as Record<WsAttacker, number>;
  for (const k of WS_ATTACKERS) out[k] = Math.floor(mix[k] / mix.threads) + (thread < mix[k] % mix.threads ? 1 : 0);
  return out;
}

/** Whether an attack kind is left out: `skip` holds parts of kind names ("deep" skips every deep-nesting kind). */
export function isSkipped(kind: string, skip: readonly string[]): boolean {
  const k = kind.toLowerCase();
  return skip.some((s) => k.includes(s.toLowerCase()));
}
