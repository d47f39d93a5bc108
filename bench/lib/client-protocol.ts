/**
 * Messages between the bench's main thread and its client worker threads, plus the layout
 * of the shared progress counters the main thread polls while a pass runs (polling shared
 * memory costs the clients nothing, unlike a message per progress update).
 */
import type { LedgerReport } from './delivery-ledger.js';

export interface ClientWorkerData {
  host: string;
  port: number;
  path: string;
  channel: string;
  /** How many connections this worker owns. */
  connections: number;
  /** Subscribe each connection to `channel` and count it ready only once `subscribed` arrives. */
  subscribe: boolean;
  /** Record latency on every n-th connection. */
  sampleEvery: number;
  /** Upgrade handshakes in flight at once; bounded so the server's accept backlog never overflows. */
  connectWindow: number;
  connectTimeoutMs: number;
  progress: SharedArrayBuffer;
  slot: number;
}

export type ToClientWorker =
  | { cmd: 'pass'; base: number; messages: number }
  | { cmd: 'report' }
  | { cmd: 'close' };

export interface ReadyInfo {
  ready: number;
  failed: number;
  attempts: number;
  /** Distinct failure reasons with counts, to explain a shortfall. */
  failures: Record<string, number>;
  ms: number;
}

export interface WorkerReport extends LedgerReport {
  /** Connections that closed after becoming ready. */
  droppedConnections: number;
  dropReasons: Record<string, number>;
  controlFrames: number;
  unparsedFrames: number;
}

export type FromClientWorker =
  | { ev: 'ready'; info: ReadyInfo }
  | { ev: 'pass-started' }
  | { ev: 'report'; report: WorkerReport }
  | { ev: 'closed' }
  | { ev: 'fatal'; message: string };

/** Float64 slots per worker in the progress buffer. */
export const PROGRESS_FIELDS = 4;
export const P_RECEIVED = 0;
export const P_LAST_DELIVERY = 1;
export const P_OPEN = 2;
export const P_DROPPED = 3;
