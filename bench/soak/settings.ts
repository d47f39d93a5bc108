/**
 * The adversarial run's server, in one place: the flags it is started with, and which answers
 * to abuse count as legitimate. The policies not set here run at their defaults (client
 * publish rate limit on, per-IP limits off, stalled-shard timeout 3 s): they change what the
 * attackers are answered, not whether the run passes — their refusals and close codes are
 * listed below so that the harness counts them instead of calling them failures. To try the
 * run with another option, add its flag to SERVER_FLAGS; nothing else needs to change.
 */
import { CloseCode, ErrorCode } from '../../src/protocol/codes.js';
import { chooseUws, glibcVersion } from '../../src/transport/uws-choice.js';

export const API_KEY = 'soak-adversary-api-key';

/** Shards: the run must cover at least two (healthy subscribers are checked on each). */
export const SHARDS = 2;
/** --max-payload of the run, in bytes: the attack sizes its frames from it. */
export const MAX_PAYLOAD = 64 * 1024;
/** --max-subscriptions of the run: churners fill connections up to it and one past it. */
export const MAX_SUBSCRIPTIONS = 256;
/** --ring-size and --ingress-ring-size: once the attack has wrapped them, they are resident. */
export const RING_SIZE = 16 * 1024 * 1024;
export const INGRESS_RING_SIZE = 4 * 1024 * 1024;

/** `shardcast serve` flags for the run (besides --port 0). */
export const SERVER_FLAGS: Readonly<Record<string, string>> = {
  '--host': '127.0.0.1',
  '--workers': String(SHARDS),
  '--api-key': API_KEY,
  '--max-payload': String(MAX_PAYLOAD),
  '--max-subscriptions': String(MAX_SUBSCRIPTIONS),
  '--ring-size': String(RING_SIZE),
  '--ingress-ring-size': String(INGRESS_RING_SIZE),
  '--max-connections': '4000',
  '--idle-timeout': '16',
  // the `listening on HOST:PORT` line is logged at info; faults at error
  '--log-level': 'info',
};

/** Source addresses: healthy clients connect from the first, attackers from the others (per-IP limits see them apart). */
export const HEALTHY_ADDRESS = '127.0.0.1';
export const attackerAddress = (thread: number): string => `127.0.0.${2 + (thread % 200)}`;

/**
 * Error codes an attacker may be answered with. Every stable code of src/protocol/codes.ts except
 * `internal` (a server bug), so codes added to the table later count without a change here.
 */
export const LEGIT_ERROR_CODES: ReadonlySet<string> = new Set<string>(Object.values(ErrorCode).filter((c) => c !== ErrorCode.Internal));

/**
 * Close codes an attacker's connection may end with. 1011 (the shard serving it failed) is
 * not one: it means the server crashed on someone's input. 1006 is what a client sees when
 * the TCP connection ends without a close frame (uWS does that for invalid UTF-8, frames above
 * 2 × max-payload, idle timeouts); 1008 is a policy close (a publisher that ignores
 * `rate_limited`); 1002/1007 are protocol errors a stricter WebSocket layer might send.
 */
export const LEGIT_CLOSE_CODES: ReadonlySet<number> = new Set<number>([
  ...Object.values(CloseCode).filter((c) => c !== CloseCode.InternalError),
  1000, 1002, 1005, 1006, 1007, 1008,
]);

/**
 * How long the server may hold a connection that never sends a complete request head before
 * closing it: uWS's HTTP idle timeout plus its 4-s timer tick and slack. The timeout is 10 s in
 * uWS 20.30 (closed after 12 s, measured) and 30 s in 20.57 (closed after 32 s); the run uses
 * the build this Node loads, which is the server's (same Node, same machine).
 */
const uwsBuild = chooseUws({ abi: Number(process.versions.modules), glibc: glibcVersion(), platform: process.platform, arch: process.arch }).expected?.version;
export const HTTP_IDLE_CLOSE_MS = (uwsBuild === '20.30' ? 10_000 : 30_000) + 5_000;

/** HTTP statuses an abuser may get besides the error table's own (431: headers too large). */
export const LEGIT_EXTRA_HTTP_STATUSES: ReadonlySet<number> = new Set([400, 408, 413, 414, 429, 431]);

/** The run's command line, as `node dist/src/cli.js serve …` takes it. */
export function serverArgs(cli: string, extra: Readonly<Record<string, string>> = {}): string[] {
  const flags = { ...SERVER_FLAGS, '--port': '0', ...extra };
  return [cli, 'serve', ...Object.entries(flags).flatMap(([k, v]) => [k, v])];
}

/**
 * Memory criteria. (1) Once the attack has stopped and its connections are closed, the
 * server's RSS must be back under baseline + the rings + MEMORY_SLACK_BYTES. The rings are
 * zero pages at the baseline and resident once the flood has wrapped them. The slack is what a
 * two-shard server keeps after a burst without a GC being forced: three V8 heaps grown under
 * the flood (the main thread's from ~11 to ~43 MiB) and the allocator's arenas — measured at
 * 115-130 MiB after both the 12-s and the 60-s runs (bench/RESULTS.md), and independent of the
 * run's length, which is the point: a leak proportional to the attack shows in a long run.
 * (2) In runs of a minute or more, RSS must not grow by more than MEMORY_LATE_GROWTH_BYTES
 * between the middle and the last tenth of the attack (a steady attack reaches a plateau).
 */
export const MEMORY_SLACK_BYTES = 192 * 1024 * 1024;
export const RINGS_BYTES = RING_SIZE + SHARDS * INGRESS_RING_SIZE;
export const MEMORY_LATE_GROWTH_BYTES = 48 * 1024 * 1024;
export const LATE_GROWTH_MIN_ATTACK_MS = 60_000;
