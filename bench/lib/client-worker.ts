/**
 * Worker-thread entry that owns a share of the bench's WebSocket connections: opens them
 * with a bounded handshake window (retrying a few times), subscribes them, then counts
 * deliveries into a DeliveryLedger and publishes live counters through shared memory.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { monoMicros } from './clock.js';
import {
  PROGRESS_FIELDS, P_DROPPED, P_LAST_DELIVERY, P_OPEN, P_RECEIVED,
  type ClientWorkerData, type FromClientWorker, type ToClientWorker,
} from './client-protocol.js';
import { DeliveryLedger } from './delivery-ledger.js';
import { scanDeliveries } from './delivery-scan.js';
import { WsConnection, type WsSink } from './ws-client.js';

const MAX_ATTEMPTS = 4;
const RETRY_DELAY_MS = 100;

const cfg = workerData as ClientWorkerData;
const port = parentPort!;
const progress = new Float64Array(cfg.progress, cfg.slot * PROGRESS_FIELDS * 8, PROGRESS_FIELDS);
const ledger = new DeliveryLedger(cfg.connections, cfg.sampleEvery);
const subscribeFrame = JSON.stringify({ type: 'subscribe', channel: cfg.channel });

const conns: (WsConnection | null)[] = new Array<WsConnection | null>(cfg.connections).fill(null);
const ready = new Uint8Array(cfg.connections);
const attempts = new Uint8Array(cfg.connections);
const timers = new Map<number, NodeJS.Timeout>();
const failures: Record<string, number> = {};
const dropReasons: Record<string, number> = {};
let phase: 'connecting' | 'running' | 'closing' = 'connecting';
let nextSlot = 0;
const retryQueue: number[] = [];
let inflight = 0;
/** Slots sleeping before a retry; the pool is not settled while any exist. */
let waitingRetry = 0;
let readyCount = 0;
let failedCount = 0;
let attemptCount = 0;
let dropped = 0;
let controlFrames = 0;
let unparsedFrames = 0;
const startedAt = Date.now();

function post(msg: FromClientWorker): void {
  port.postMessage(msg);
}

function bump(map: Record<string, number>, reason: string): void {
  // Ephemeral ports make every reason unique; strip them so reasons aggregate.
  const key = reason.replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:*');
  map[key] = (map[key] ?? 0) + 1;
}

function markReady(conn: WsConnection): void {
  const slot = conn.tag;
  if (ready[slot] === 1) return;
  ready[slot] = 1;
  readyCount++;
  inflight--;
  clearTimeout(timers.get(slot));
  timers.delete(slot);
  progress[P_OPEN] = readyCount - dropped;
  pump();
}

function onControl(conn: WsConnection, text: string): void {
  controlFrames++;
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    unparsedFrames++;
    return;
  }
  const m = msg as { type?: unknown; channel?: unknown };
  if (m.type === 'subscribed' && m.channel === cfg.channel) markReady(conn);
  else if (m.type === 'error') bump(failures, `server error frame: ${text.slice(0, 200)}`);
}

const sink: WsSink = {
  onOpen(conn) {
    if (cfg.subscribe) conn.sendText(subscribeFrame);
    else markReady(conn);
  },
  onMessage(conn, buf, start, end) {
    ledger.at(conn.tag, monoMicros());
    if (scanDeliveries(buf, start, end, ledger) === 0) {
      onControl(conn, buf.toString('utf8', start, end));
      return;
    }
    progress[P_RECEIVED] = ledger.received;
    progress[P_LAST_DELIVERY] = ledger.lastDeliveryMicros;
  },
  onClose(conn, reason) {
    const slot = conn.tag;
    if (phase === 'closing') return;
    if (ready[slot] === 1) {
      dropped++;
      bump(dropReasons, reason);
      progress[P_OPEN] = readyCount - dropped;
      progress[P_DROPPED] = dropped;
      return;
    }
    // Failed before becoming ready: retry a few times, then give up on this slot.
    clearTimeout(timers.get(slot));
    timers.delete(slot);
    inflight--;
    bump(failures, reason);
    conns[slot] = null;
    if (attempts[slot]! < MAX_ATTEMPTS && phase === 'connecting') {
      waitingRetry++;
      setTimeout(() => {
        waitingRetry--;
        retryQueue.push(slot);
        pump();
      }, RETRY_DELAY_MS);
    } else {
      failedCount++;
    }
    pump();
  },
};

function open(slot: number): void {
  attempts[slot]!++;
  attemptCount++;
  inflight++;
  const conn = new WsConnection({ host: cfg.host, port: cfg.port, path: cfg.path }, sink);
  conn.tag = slot;
  conns[slot] = conn;
  timers.set(slot, setTimeout(() => conn.destroy('connect/subscribe timeout'), cfg.connectTimeoutMs));
}

function pump(): void {
  if (phase !== 'connecting') return;
  while (inflight < cfg.connectWindow) {
    const slot = retryQueue.length > 0 ? retryQueue.shift()! : nextSlot < cfg.connections ? nextSlot++ : -1;
    if (slot < 0) break;
    open(slot);
  }
  if (inflight === 0 && nextSlot >= cfg.connections && retryQueue.length === 0 && waitingRetry === 0) {
    phase = 'running';
    post({ ev: 'ready', info: { ready: readyCount, failed: failedCount, attempts: attemptCount, failures, ms: Date.now() - startedAt } });
  }
}

port.on('message', (msg: ToClientWorker) => {
  switch (msg.cmd) {
    case 'pass':
      ledger.startPass(msg.base, msg.messages);
      progress[P_RECEIVED] = 0;
      progress[P_LAST_DELIVERY] = 0;
      post({ ev: 'pass-started' });
      return;
    case 'report':
      post({
        ev: 'report',
        report: { ...ledger.report(), droppedConnections: dropped, dropReasons, controlFrames, unparsedFrames },
      });
      return;
    case 'close':
      phase = 'closing';
      for (const t of timers.values()) clearTimeout(t);
      for (const c of conns) c?.destroy();
      post({ ev: 'closed' });
      port.close();
      return;
  }
});

try {
  pump();
} catch (err) {
  post({ ev: 'fatal', message: err instanceof Error ? err.stack ?? err.message : String(err) });
}
