/**
 * One load thread's whole job, run as a single long piscina task (workers/bench-load.ts):
 * open this thread's slice of the connections at its share of the ramp, subscribe each to
 * its channel, then account every delivery (ledger.ts) and record its latency until the main
 * thread says stop; then close every connection and return the totals. Slow consumers
 * (--slow-fraction) pause their reads once subscribed and read again at measure-end; they
 * have their own ledger and no latency samples, so the totals above are the healthy ones'.
 * With --reconnect-fraction, some connections are cut once while publishing and come back
 * with `since` (reconnects.ts); their ledger carries on across the cut.
 *
 * Everything per delivery is kept cheap: one clock read per frame, byte-level decoding
 * (frame-decoder.ts), a comparison in the ledger, one histogram record, two stores into the
 * shared counters.
 */
import { tally, wallMs } from './clock.js';
import { frameDecoder, type ControlMessage, type DeliveryVisitor, type FrameDecoder } from './frame-decoder.js';
import { LatencySeconds } from './latency-seconds.js';
import { DeliveryLedger } from './ledger.js';
import {
  C, COUNTER_SLOTS, isSlowConnection, type FromLoadThread, type LoadResult, type LoadTask, type ToLoadThread,
} from './load-protocol.js';
import { Reconnects } from './reconnects.js';
import { CLOSED_BY_CLIENT, WsConnection, type WsSink } from './ws-client.js';
import { withToken } from './bench-token.js';

/** How long stop waits for servers to acknowledge our close frames before cutting the rest. */
const CLOSE_GRACE_MS = 1000;
const RAMP_STEP_MS = 10;
const TIMEOUT_SWEEP_MS = 50;

export function runLoadThread(task: LoadTask): Promise<LoadResult> {
  return new LoadThread(task).run();
}

type Phase = 'ramping' | 'running' | 'stopping';

class LoadThread implements WsSink, DeliveryVisitor {
  private phase: Phase = 'ramping';
  private readonly conns: Array<WsConnection | null>;
  /** Channel number of each local connection. */
  private readonly channelOf: Int32Array;
  private readonly channelNames: Buffer[] = [];
  /** Per channel: the subscribe message in the connections' format (text or MessagePack bytes). */
  private readonly subscribeFrames: Array<string | Buffer> = [];
  /** Healthy connections' ledger; slow consumers (1 in `slow`) are accounted apart, without latency. */
  private readonly ledger: DeliveryLedger;
  private readonly slow: Uint8Array;
  private readonly slowLedger: DeliveryLedger | null;
  private readonly reconnects: Reconnects | null;
  /** When the marked connections are cut, and (--reconnect-delay) when they come back. */
  private cutTimer: NodeJS.Timeout | null = null;
  private comeBackTimer: NodeJS.Timeout | null = null;
  private readonly slowClosed: Record<string, number> = {};
  private slowOpen = 0;
  private readonly decoder: FrameDecoder;
  private readonly counters: Float64Array;
  private readonly seconds = new LatencySeconds((s) => this.post(s));
  /** Connect/subscribe deadlines of the connections not settled yet. */
  private readonly deadlines = new Map<number, number>();
  private readonly failures: Record<string, number> = {};
  private readonly closedByServer: Record<string, number> = {};
  private readonly serverErrors: Record<string, number> = {};
  private nextSlot = 0;
  private attempted = 0;
  private ready = 0;
  private failed = 0;
  private open = 0;
  private unparsableFrames = 0;
  private firstAttemptAt = 0;
  private lastReadyAt = 0;
  private firstDeliveryAt = 0;
  private lastDeliveryAt = 0;
  private rampStartedAt = 0;
  private rampTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private utilization: number | null = null;
  /** The connection whose frame is being decoded, and when the frame arrived. */
  private current = 0;
  private frameAt = 0;
  private resolveDone: ((r: LoadResult) => void) | null = null;

  constructor(private readonly task: LoadTask) {
    this.conns = new Array<WsConnection | null>(task.connections).fill(null);
    this.channelOf = new Int32Array(task.connections);
    for (let j = 0; j < task.connections; j++) this.channelOf[j] = (task.firstConnection + j) % task.channels;
    this.decoder = frameDecoder(task.format);
    for (let c = 0; c < task.channels; c++) {
      const name = `${task.channelPrefix}${c}`;
      this.channelNames.push(Buffer.from(name, 'latin1'));
      this.subscribeFrames.push(this.decoder.clientMessage({ type: 'subscribe', channel: name }));
    }
    this.ledger = new DeliveryLedger(task.connections);
    this.slow = new Uint8Array(task.connections);
    let slow = 0;
    for (let j = 0; j < task.connections; j++) {
      if (isSlowConnection(task.firstConnection + j, task.slowConnections, task.totalConnections)) this.slow[j] = 1;
      slow += this.slow[j]!;
    }
    this.slowLedger = slow > 0 ? new DeliveryLedger(task.connections) : null;
    this.reconnects = task.reconnectConnections > 0 ? new Reconnects(task.connections, task.firstConnection, task.reconnectConnections, task.totalConnections) : null;
    this.counters = new Float64Array(task.counters, task.thread * COUNTER_SLOTS * 8, COUNTER_SLOTS);
  }

  run(): Promise<LoadResult> {
    const done = new Promise<LoadResult>((resolve) => (this.resolveDone = resolve));
    this.task.port.on('message', (msg: ToLoadThread) => this.onCommand(msg));
    // The main thread gone (its port closed) means nobody will say stop: stop now.
    this.task.port.once('close', () => void this.stop());
    this.rampStartedAt = wallMs();
    this.rampTimer = setInterval(() => this.rampStep(), RAMP_STEP_MS);
    this.sweepTimer = setInterval(() => this.sweepTimeouts(), TIMEOUT_SWEEP_MS);
    this.rampStep();
    return done;
  }

  private post(msg: FromLoadThread): void {
    this.task.port.postMessage(msg);
  }

  private onCommand(msg: ToLoadThread): void {
    switch (msg.cmd) {
      case 'measure-start':
        this.seconds.start(msg.origin);
        if (this.reconnects !== null) this.cutTimer = setTimeout(() => this.cutAndReconnect(), msg.origin + this.task.reconnectAtMs - wallMs());
        this.post({ ev: 'started', subscribers: this.subscribersPerChannel(false), slowSubscribers: this.subscribersPerChannel(true) });
        return;
      case 'measure-end':
        this.utilization = this.seconds.utilizationSinceStart();
        // Slow consumers read again: what the server kept for them arrives, then any close frame.
        for (let j = 0; j < this.conns.length; j++) if (this.slow[j] === 1) this.conns[j]?.resumeReading();
        return;
      case 'stop':
        void this.stop();
        return;
    }
  }

  // ---- ramp ----

  private rampStep(): void {
    if (this.phase !== 'ramping') return;
    const now = wallMs();
    // Connections due so far at this thread's rate; the first one at once.
    const due = Math.min(this.task.connections, Math.floor(((now - this.rampStartedAt) / 1000) * this.task.rampPerSecond) + 1);
    while (this.nextSlot < due && this.deadlines.size < this.task.connectWindow) this.openSlot(this.nextSlot++, now);
    if (this.nextSlot >= this.task.connections && this.rampTimer !== null) {
      clearInterval(this.rampTimer);
      this.rampTimer = null;
    }
  }

  private openSlot(j: number, now: number): void {
    if (this.attempted === 0) this.firstAttemptAt = now;
    this.attempted++;
    this.counters[C.attempted] = this.attempted;
    this.connect(j, now);
  }

  private connect(j: number, now: number): void {
    this.deadlines.set(j, now + this.task.connectTimeoutMs);
    const n = this.task.firstConnection + j;
    const { targets } = this.task;
    const conn = new WsConnection(withToken(targets[n % targets.length]!, n), this, this.decoder.subprotocol);
    conn.tag = j;
    this.conns[j] = conn;
  }

  /** --reconnect-fraction: the marked connections that are subscribed are cut, and connect again at once. */
  private cutAndReconnect(): void {
    for (const j of this.reconnects!.due()) {
      const conn = this.conns[j];
      if (conn === null || conn === undefined || this.deadlines.has(j)) continue;
      this.reconnects!.drop(j);
      conn.destroy('cut by the bench (--reconnect-fraction)');
    }
  }

  /** --reconnect-delay over: the cut connections connect again. */
  private comeBack(): void {
    if (this.phase === 'stopping') return;
    const now = wallMs();
    for (const j of this.reconnects!.due()) if (this.reconnects!.isRejoining(j) && this.conns[j] === null && !this.deadlines.has(j)) this.connect(j, now);
  }

  private sweepTimeouts(): void {
    if (this.deadlines.size === 0) return;
    const now = wallMs();
    for (const [j, deadline] of this.deadlines) {
      if (now < deadline) continue;
      const conn = this.conns[j];
      const label = conn?.state === 'open' ? 'subscribe timeout' : conn?.state === 'handshake' ? 'upgrade timeout' : 'connect timeout';
      if (conn) conn.destroy(label);
      else this.settleFailed(j, label);
    }
  }

  private settleFailed(j: number, label: string): void {
    if (!this.deadlines.delete(j)) return;
    this.failed++;
    this.counters[C.failed] = this.failed;
    tally(this.failures, label);
    this.checkRampDone();
  }

  private checkRampDone(): void {
    if (this.phase !== 'ramping' || this.nextSlot < this.task.connections || this.deadlines.size > 0) return;
    this.phase = 'running';
    this.post({ ev: 'ready' });
  }

  private ledgerOf(j: number): DeliveryLedger {
    return this.slow[j] === 1 ? this.slowLedger! : this.ledger;
  }

  private subscribersPerChannel(slow: boolean): number[] {
    const out = new Array<number>(this.task.channels).fill(0);
    for (let j = 0; j < this.conns.length; j++) {
      if (this.conns[j] !== null && (this.slow[j] === 1) === slow && this.ledgerOf(j).isSubscribed(j)) out[this.channelOf[j]!]!++;
    }
    return out;
  }

  // ---- WsSink ----

  onOpen(conn: WsConnection): void {
    const j = conn.tag;
    if (this.reconnects?.isRejoining(j) !== true) return void conn.send(this.subscribeFrames[this.channelOf[j]!]!);
    const channel = this.channelNames[this.channelOf[j]!]!.toString('latin1');
    conn.send(this.decoder.clientMessage({ type: 'subscribe', channel, since: this.reconnects.since(j, this.ledgerOf(j).lastSeq(j)) }));
  }

  onMessage(conn: WsConnection, buf: Buffer, start: number, end: number): void {
    this.current = conn.tag;
    this.frameAt = wallMs();
    try {
      this.decoder.decode(buf, start, end, this);
    } catch {
      // A decoder bug must not take the thread (and the run) down; it shows up as a count.
      this.unparsableFrames++;
    }
  }

  onClose(conn: WsConnection, label: string): void {
    const j = conn.tag;
    this.conns[j] = null;
    // a cut connection is no longer counted open; at the stop its new one just ends
    if (this.reconnects?.isRejoining(j) === true) return this.phase === 'stopping' ? undefined : this.onRejoinClose(j, label);
    if (this.ledgerOf(j).isSubscribed(j)) {
      this.open--;
      this.counters[C.open] = this.open;
      if (this.slow[j] === 1) this.counters[C.slowOpen] = --this.slowOpen;
      if (this.phase === 'stopping' || label === CLOSED_BY_CLIENT) return;
      tally(this.closedByServer, label);
      if (this.slow[j] === 1) tally(this.slowClosed, label);
      this.counters[C.closedByServer]!++;
      return;
    }
    this.settleFailed(j, label === CLOSED_BY_CLIENT ? 'not subscribed when the run stopped' : label);
  }

  /** The cut itself (connect again), or the new connection failing before its answer (given up). */
  private onRejoinClose(j: number, label: string): void {
    if (!this.deadlines.has(j)) {
      this.open--;
      this.counters[C.open] = this.open;
      if (this.task.reconnectDelayMs === 0) this.connect(j, wallMs());
      else this.comeBackTimer ??= setTimeout(() => this.comeBack(), this.task.reconnectDelayMs);
      return;
    }
    this.deadlines.delete(j);
    this.reconnects!.failedAgain(j, label);
  }

  /** A rejoining connection's `subscribed`: recovered, or what it missed is a gap. */
  private onResubscribed(j: number, msg: ControlMessage): void {
    const recovered = msg['recovered'] === true;
    if (!recovered && typeof msg.seq === 'number') this.ledgerOf(j).resumeAfter(j, msg.seq);
    this.reconnects!.answered(j, recovered);
    this.deadlines.delete(j);
    this.open++;
    this.counters[C.open] = this.open;
  }

  // ---- DeliveryVisitor ----

  delivery(buf: Buffer, cs: number, ce: number, seq: number, index: number, tMs: number): void {
    const j = this.current;
    const name = this.channelNames[this.channelOf[j]!]!;
    const ledger = this.ledgerOf(j);
    if (!ledger.isSubscribed(j) || name.compare(buf, cs, ce) !== 0) {
      ledger.misrouted++;
      return;
    }
    if (seq === 1 && this.reconnects?.needsEpoch(j) === true) this.reconnects.noteEpoch(j, this.decoder.epochAfter(buf, ce));
    const counters = this.counters;
    if (ledger !== this.ledger) {
      if (ledger.delivery(j, seq, index >= 0)) counters[C.slowDelivered] = ledger.delivered;
      return;
    }
    if (ledger.delivery(j, seq, index >= 0)) {
      const now = this.frameAt;
      this.seconds.record(now, tMs);
      if (this.firstDeliveryAt === 0) this.firstDeliveryAt = now;
      this.lastDeliveryAt = now;
      counters[C.delivered] = this.ledger.delivered;
      counters[C.lastDeliveryAt] = now;
    }
    counters[C.duplicated] = this.ledger.duplicated;
    counters[C.outOfOrder] = this.ledger.outOfOrder;
    counters[C.seqGaps] = this.ledger.seqGaps;
  }

  control(msg: ControlMessage): void {
    const j = this.current;
    switch (msg.type) {
      case 'subscribed': {
        if (this.reconnects?.isRejoining(j) === true && this.deadlines.has(j)) return this.onResubscribed(j, msg);
        this.reconnects?.noteEpoch(j, msg['epoch']);
        const ledger = this.ledgerOf(j);
        if (ledger.isSubscribed(j) || !this.deadlines.has(j)) return;
        const name = this.channelNames[this.channelOf[j]!]!.toString('latin1');
        if (msg.channel !== name) return;
        ledger.subscribed(j, typeof msg.seq === 'number' && msg.seq >= 0 ? msg.seq : 0);
        if (this.slow[j] === 1) {
          this.conns[j]?.pauseReading();
          this.counters[C.slowOpen] = ++this.slowOpen;
        }
        this.deadlines.delete(j);
        this.ready++;
        this.open++;
        this.lastReadyAt = this.frameAt;
        this.counters[C.ready] = this.ready;
        this.counters[C.open] = this.open;
        this.checkRampDone();
        return;
      }
      case 'error': {
        const code = typeof msg.code === 'string' ? msg.code : 'unknown';
        tally(this.serverErrors, `error frame: ${code}`);
        // A refused subscribe leaves the connection useless for the bench: count it as failed.
        if (!this.ledgerOf(j).isSubscribed(j) && msg.ref === 'subscribe') this.conns[j]?.destroy(`subscribe refused: ${code}`);
        return;
      }
      case 'unparsable':
        this.unparsableFrames++;
        return;
      default:
        return; // welcome, pong, ack, unsubscribed: nothing to count
    }
  }

  // ---- end ----

  private slowTotals(openAtStop: number): LoadResult['slow'] {
    const l = this.slowLedger;
    if (l === null) return null;
    return {
      connections: this.slow.reduce((a, b) => a + b, 0), closedByServer: this.slowClosed, openAtStop,
      delivered: l.delivered, duplicated: l.duplicated, seqGapMessages: l.seqGapMessages,
    };
  }

  private async stop(): Promise<void> {
    if (this.phase === 'stopping') return;
    this.phase = 'stopping';
    if (this.rampTimer !== null) clearInterval(this.rampTimer);
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    if (this.cutTimer !== null) clearTimeout(this.cutTimer);
    if (this.comeBackTimer !== null) clearTimeout(this.comeBackTimer);
    const utilization = this.utilization ?? this.seconds.utilizationSinceStart();
    const lastSecond = this.seconds.stop();
    const openAtStop = this.open;
    const slowOpenAtStop = this.slowOpen;
    const live = this.conns.filter((c): c is WsConnection => c !== null);
    for (const c of live) c.close();
    this.deadlines.clear();
    const deadline = Date.now() + CLOSE_GRACE_MS;
    while (live.some((c) => !c.socketClosed) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of live) c.forceDestroy();
    const l = this.ledger;
    const result: LoadResult = {
      thread: this.task.thread, attempted: this.attempted, ready: this.ready, failed: this.failed, openAtStop,
      failures: this.failures, closedByServer: this.closedByServer,
      firstAttemptAt: this.firstAttemptAt, lastReadyAt: this.lastReadyAt,
      firstDeliveryAt: this.firstDeliveryAt, lastDeliveryAt: this.lastDeliveryAt,
      delivered: l.delivered, duplicated: l.duplicated, outOfOrder: l.outOfOrder, seqGaps: l.seqGaps,
      seqGapMessages: l.seqGapMessages, foreign: l.foreign, misrouted: l.misrouted, unsequenced: l.unsequenced,
      unparsableFrames: this.unparsableFrames, serverErrors: this.serverErrors,
      histogram: this.seconds.finish(), utilization, lastSecond, slow: this.slowTotals(slowOpenAtStop),
      reconnects: this.reconnects?.totals() ?? null,
    };
    this.task.port.removeAllListeners('message');
    this.task.port.close();
    this.resolveDone?.(result);
  }
}
