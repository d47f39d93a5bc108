/**
 * Shard — one worker thread's share of the connections. It runs its own uWS app on the
 * shared port (SO_REUSEPORT: the kernel spreads connections over the shards by a hash of
 * their address), reads the broadcast feed, and answers to the main thread.
 *
 * A worker thread that exits while it still holds uWS sockets aborts the whole process, so
 * every way out goes through close(): stop listening, close every connection with a code,
 * give the close frames a moment to leave, app.close(), and only then exit.
 */
import { CloseCode } from '../protocol/codes.js';
import type { FromShard, ShardInit, ToShard } from '../engine/control.js';
import type { ChannelSnapshot } from '../transport/channel-snapshot.js';
import { closeApp, uws, type us_listen_socket } from '../transport/uws.js';
import { ClientHandler } from './client-handler.js';
import { SWEEP_INTERVAL_MS, sweepSlowConsumers } from './slow-consumers.js';
import { EXPIRY_SWEEP_MS } from './auth-gate.js';
import { ShardContext } from './context.js';
import { DashboardRoutes } from './dashboard-routes.js';
import { Feed } from './feed.js';
import { HttpApi, answerPending } from './http-api.js';
import { sendAnswer, sendError } from './http-reply.js';
import { createApp } from './tls-app.js';

/** Exit code of a shard that closed itself after a fatal error. */
export const FAULT_EXIT_CODE = 70;
/** Exit code of a shard that found itself cut loose from the feed after stalling. */
export const STALLED_EXIT_CODE = 71;

export class Shard {
  private readonly ctx: ShardContext;
  private readonly clients: ClientHandler;
  private readonly httpApi: HttpApi;
  /** /dashboard on this port (--dashboard on without --admin-port), else null. */
  private readonly dashboard: DashboardRoutes | null = null;
  /** Built once the main thread has attached this shard's feed slot. */
  private feed: Feed | null = null;
  private listenSocket: us_listen_socket | null = null;
  private sweep: NodeJS.Timeout | null = null;
  private expirySweep: NodeJS.Timeout | null = null;
  private exiting = false;

  constructor(
    private readonly init: ShardInit,
    post: (m: FromShard) => void,
    private readonly exit: (code: number) => void,
  ) {
    const app = createApp(init.config, init.shard);
    this.ctx = new ShardContext(init.shard, init.generation, init.config, app, init.ingress, init.counters, post);
    this.clients = new ClientHandler(this.ctx, init.ipTables);
    app.ws('/ws', this.clients.behavior());
    this.httpApi = new HttpApi(this.ctx);
    if (init.config.dashboard && init.config.adminPort === null) {
      this.dashboard = new DashboardRoutes(this.ctx, () => this.httpApi.apiKeys);
      this.dashboard.mount();
    }
    this.httpApi.mount();
  }

  /**
   * Asks for the feed slot; listening starts once it is attached (feed-attached), so no
   * client can subscribe before this shard knows the channels' seqs. Attaching only now —
   * not when the worker was spawned — keeps a starting worker from holding the ring.
   */
  start(): void {
    this.ctx.post({ type: 'attach-feed' });
    this.sweep = setInterval(() => sweepSlowConsumers(this.ctx), SWEEP_INTERVAL_MS);
    this.sweep.unref();
    // tokens expire by the second: one sweep a second for the whole shard, not a timer per connection
    if (this.ctx.config.jwt !== null) {
      this.expirySweep = setInterval(() => this.clients.auth.sweepExpired(Date.now()), EXPIRY_SWEEP_MS);
      this.expirySweep.unref();
    }
  }

  private onFeedAttached(seqs: ChannelSnapshot): void {
    if (this.exiting) return;
    this.ctx.setSnapshot(seqs);
    this.feed = new Feed(this.ctx, this.init.broadcast, () => this.onCutLoose(), (a) => this.clients.subscriptions.recoveries.answer(a));
    this.feed.pump.start();
    this.listen();
  }

  /** The main thread cut this shard loose after it stalled: its clients must reconnect. */
  private onCutLoose(): void {
    this.close(STALLED_EXIT_CODE, CloseCode.ShardStalled, 'shard stalled; reconnect');
  }

  private listen(): void {
    const { config } = this.init;
    this.ctx.app.listen(config.host, this.init.port, (socket) => {
      if (!socket) {
        this.ctx.post({ type: 'listen-failed', message: `shard ${this.init.shard} could not listen on ${config.host}:${this.init.port}` });
        this.close(FAULT_EXIT_CODE, CloseCode.InternalError, 'listen failed');
        return;
      }
      this.listenSocket = socket;
      this.ctx.post({ type: 'listening', port: uws.us_socket_local_port(socket) });
    });
  }

  onControl(m: ToShard): void {
    switch (m.type) {
      case 'feed-attached':
        this.onFeedAttached(m.seqs);
        return;
      case 'shutdown':
        this.close(0, CloseCode.GoingAway, 'server shutting down');
        return;
      case 'fail':
        this.fatal(new Error(m.reason));
        return;
      case 'channels-query':
        this.ctx.post({ type: 'channels-report', query: m.query, channels: this.ctx.channelReport() });
        return;
      case 'disconnect-user':
        this.ctx.post({ type: 'disconnected', query: m.query, closed: this.clients.disconnectUser(m.user) });
        return;
      case 'http-answer':
        answerPending(this.ctx, m.ref, (res) => sendAnswer(res, m.answer));
        return;
      case 'publish-refused':
        if (m.target === 'http') {
          this.ctx.count('httpErrors');
          answerPending(this.ctx, m.ref, (res) => sendError(res, m.code, m.message, undefined, m.detail));
        } else {
          const ws = this.ctx.clients.get(m.ref);
          if (ws) this.clients.reject(ws, m.code, m.message, m.ackId === '' ? 'publish' : m.ackId, m.detail);
        }
        return;
      case 'credentials':
        this.ctx.config = { ...this.ctx.config, apiKeys: m.apiKeys, jwt: m.jwt };
        this.httpApi.useKeys();
        this.clients.auth.useKeys();
        this.ctx.post({ type: 'credentials-applied', query: m.query });
        return;
      case 'dashboard-hello':
        this.dashboard?.hello(m.ref, m.hello);
        return;
      case 'dashboard-sample':
        this.dashboard?.sample(m.sample);
        return;
      case 'dashboard-channels':
        this.dashboard?.channels(m.tables);
        return;
      case 'inject-fault':
        if (!this.init.config.testHooks) throw new Error('inject-fault needs testHooks');
        if (m.where === 'timer') setTimeout(() => { throw new Error('injected fault (timer)'); }, 0);
        else this.clients.faultOnNextMessage = true;
        return;
      case 'inject-stall':
        if (!this.init.config.testHooks) throw new Error('inject-stall needs testHooks');
        // a real stall: the whole shard thread blocks, its feed reader included
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, m.ms);
        return;
      default: {
        const never: never = m;
        throw new Error(`unknown control message ${JSON.stringify(never)}`);
      }
    }
  }

  /** The one fatal-error path: report, close everything with 1011, exit non-zero. */
  fatal(err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    if (!this.exiting) this.ctx.post({ type: 'fault', message: e.message, stack: e.stack ?? '' });
    this.close(FAULT_EXIT_CODE, CloseCode.InternalError, 'internal error');
  }

  private close(exitCode: number, closeCode: CloseCode, reason: string): void {
    if (this.exiting) return;
    this.exiting = true;
    this.ctx.closing = true;
    if (this.sweep) clearInterval(this.sweep);
    if (this.expirySweep) clearInterval(this.expirySweep);
    if (this.listenSocket) uws.us_listen_socket_close(this.listenSocket);
    this.listenSocket = null;
    if (exitCode === 0) {
      // graceful: deliver what is already in the feed before saying goodbye
      try {
        this.feed?.pump.drain();
      } catch {
        // a broken feed must not stop the shutdown; clients still get their close code
      }
    }
    // from here on this shard reads nothing: give its slot up at once, so the ring does not
    // fill up for every other shard while these clients get their close frames
    this.feed?.pump.detach();
    const open = [...this.ctx.clients.values()];
    if (closeCode === CloseCode.ShardStalled) this.ctx.count('closedStalled', open.length);
    for (const ws of open) ws.end(closeCode, reason); // runs each close handler at once
    // end() queues the close frame; give it time to reach the peers before app.close()
    // cuts every socket (without the wait, clients would see 1006 instead of the code)
    const grace = open.length === 0 ? 0 : Math.min(1000, this.init.config.shutdownTimeout / 2);
    setTimeout(() => {
      closeApp(this.ctx.app);
      this.ctx.post({ type: 'closed' });
      setImmediate(() => this.exit(exitCode));
    }, grace);
  }
}
