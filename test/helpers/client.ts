/**
 * TestClient — a real WebSocket client (the `ws` library) for tests, with an inbox and
 * awaitable expectations. Server frames may be one message or an array of messages; both
 * are flattened into the inbox.
 */
import WebSocket from 'ws';
import { Packr, Unpackr } from 'msgpackr';

/** The test's own MessagePack codec (plain MessagePack, as docs/protocol.md promises), not the server's. */
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export type ClientFormat = 'json' | 'msgpack';

export interface Frame {
  type: string;
  [key: string]: unknown;
}

export interface Closed {
  code: number;
  reason: string;
}

export class TestClient {
  readonly inbox: Frame[] = [];
  closed: Closed | null = null;
  welcome: { id: string; shard: number } | null = null;
  /** Frames received, by kind: a MessagePack connection must get binary frames only, a JSON one text only. */
  readonly frames = { text: 0, binary: 0 };
  /** Frames that held an array of messages (merged), and the largest frame's bytes. */
  arrayFrames = 0;
  largestFrame = 0;
  private waiters: Array<() => void> = [];

  private constructor(
    readonly ws: WebSocket,
    readonly format: ClientFormat = 'json',
  ) {
    ws.on('message', (data, isBinary) => {
      const bytes = data as Buffer;
      this.frames[isBinary ? 'binary' : 'text']++;
      this.largestFrame = Math.max(this.largestFrame, bytes.byteLength);
      const v = (isBinary && format === 'msgpack' ? unpackr.unpack(bytes) : JSON.parse(bytes.toString('utf8'))) as Frame | Frame[];
      if (Array.isArray(v)) this.arrayFrames++;
      for (const m of Array.isArray(v) ? v : [v]) {
        if (m.type === 'welcome') this.welcome = { id: m['id'] as string, shard: m['shard'] as number };
        this.inbox.push(m);
      }
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
      this.wake();
    });
    ws.on('error', () => {}); // the close event carries what tests look at
  }

  /**
   * Connects and waits for the welcome frame. `opts.origin` sends an Origin header (as a
   * browser would); `opts.ca` connects with wss://, trusting that certificate.
   */
  static async connect(port: number, path = '/ws', timeoutMs = 10_000, opts: { origin?: string; ca?: string | Buffer } = {}): Promise<TestClient> {
    const url = `${opts.ca === undefined ? 'ws' : 'wss'}://127.0.0.1:${port}${path}`;
    const ws = new WebSocket(url, { perMessageDeflate: false, ...(opts.origin === undefined ? {} : { origin: opts.origin }), ...(opts.ca === undefined ? {} : { ca: opts.ca }) });
    return TestClient.welcomed(ws, timeoutMs);
  }

  /**
   * Connects with subprotocols and headers (a token, say) and waits for the welcome frame.
   * `format` is how this client reads and writes frames; the server's choice follows the
   * protocols or the path's `?format=` (the test says which it expects).
   */
  static async connectWith(port: number, opts: { path?: string; protocols?: string[]; headers?: Record<string, string>; format?: ClientFormat }, timeoutMs = 10_000): Promise<TestClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${opts.path ?? '/ws'}`, opts.protocols ?? [], { perMessageDeflate: false, headers: opts.headers ?? {} });
    return TestClient.welcomed(ws, timeoutMs, opts.format);
  }

  /** Connects as a MessagePack client (subprotocol shardcast.v1.msgpack) and waits for the welcome frame. */
  static async connectMsgpack(port: number, opts: { protocols?: string[] } = {}): Promise<TestClient> {
    return TestClient.connectWith(port, { protocols: opts.protocols ?? ['shardcast.v1.msgpack'], format: 'msgpack' });
  }

  /** Waits until `ws` is open and the welcome frame has arrived; a refused upgrade rejects. */
  private static async welcomed(ws: WebSocket, timeoutMs: number, format: ClientFormat = 'json'): Promise<TestClient> {
    const c = new TestClient(ws, format);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
    await c.waitFor((m) => m.type === 'welcome', timeoutMs);
    return c;
  }

  /** Sends a message in the client's format (a string is sent as is, as a text frame). */
  send(v: unknown): void {
    if (typeof v === 'string') this.ws.send(v);
    else if (this.format === 'msgpack') this.ws.send(packr.pack(v), { binary: true });
    else this.ws.send(JSON.stringify(v));
  }

  async subscribe(channel: string): Promise<number> {
    this.send({ type: 'subscribe', channel });
    const m = await this.waitFor((f) => f.type === 'subscribed' && f['channel'] === channel);
    return m['seq'] as number;
  }

  messages(channel?: string): Frame[] {
    return this.inbox.filter((m) => m.type === 'message' && (channel === undefined || m['channel'] === channel));
  }

  /** Resolves with the first inbox frame (from `from` on) matching `pred`. */
  async waitFor(pred: (m: Frame) => boolean, timeoutMs = 10_000, from = 0): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = from; i < this.inbox.length; i++) if (pred(this.inbox[i]!)) return this.inbox[i]!;
      if (this.closed) throw new Error(`closed (${this.closed.code} ${this.closed.reason}) while waiting`);
      await this.sleep(deadline);
    }
  }

  /** Waits until `pred()` holds, re-checking on every frame. */
  async until(pred: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await this.sleep(deadline);
    }
  }

  async waitClosed(timeoutMs = 10_000): Promise<Closed> {
    await this.until(() => this.closed !== null, timeoutMs, 'close');
    return this.closed!;
  }

  close(): void {
    if (this.closed === null) this.ws.terminate();
  }

  private sleep(deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const left = deadline - Date.now();
      if (left <= 0) return reject(new Error('timed out waiting for a frame'));
      const t = setTimeout(() => reject(new Error('timed out waiting for a frame')), left);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** Connects `n` clients, a few at a time (the accept queue is finite). */
export async function connectMany(port: number, n: number, batch = 50): Promise<TestClient[]> {
  const out: TestClient[] = [];
  for (let i = 0; i < n; i += batch) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => TestClient.connect(port)))));
  }
  return out;
}

/**
 * A frame without its `epoch` field, for comparing frames whose epoch is random per server
 * process (`subscribed`, and the `message` with seq 1).
 */
export function withoutEpoch(f: Frame): Frame {
  const { epoch: _epoch, ...rest } = f;
  return rest as Frame;
}

/**
 * `n` clients from `connect` with at least one on each of two shards (the kernel picks the
 * shard; bounded tries). Every client opened, kept or not, goes into `opened` for cleanup.
 */
export async function spreadOverTwoShards(connect: () => Promise<TestClient>, n: number, opened: TestClient[]): Promise<TestClient[]> {
  const kept: TestClient[] = [];
  for (let tries = 0; tries < 60 && kept.length < n; tries++) {
    const c = await connect();
    opened.push(c);
    const missing = [0, 1].filter((s) => !kept.some((k) => k.welcome!.shard === s));
    // keep it unless it would fill the last place without covering a missing shard
    if (kept.length < n - missing.length || missing.includes(c.welcome!.shard)) kept.push(c);
    else c.close();
  }
  if (kept.length !== n) throw new Error(`could not spread ${n} clients over both shards`);
  return kept;
}
