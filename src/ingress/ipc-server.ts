/**
 * IpcServer — a Unix domain socket (mode 0600: only the server's user) for local producers.
 * Framing and messages are in ipc-framing.ts: each frame is JSON or MessagePack, and its
 * reply comes in the same format. Requests on one connection are handled in order. When
 * the engine is overloaded the server stops reading that connection and retries the
 * waiting request until it is accepted: back-pressure reaches the producer through the
 * socket, and nothing is dropped.
 */
import { existsSync, statSync, unlinkSync, chmodSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Broker } from '../broker/broker.js';
import { ErrorCode } from '../protocol/codes.js';
import type { Counters } from '../transport/counters.js';
import { ShardcastError, detailOf, type ErrorDetail } from '../protocol/errors.js';
import { FrameDecoder, encodeFrame } from './ipc-framing.js';
import type { Logger } from '../engine/logger.js';
import { MAX_ACK_ID, ackFrame, dataBytes, publishTargets, toClientMessage } from '../protocol/messages.js';
import { Payload, unpackValue } from '../protocol/payload.js';
import { WireFormat, frameFor } from '../protocol/wire-format.js';

/** How long an overloaded request waits before it is tried again. */
const RETRY_MS = 5;
/** Requests read ahead per connection before the socket is paused. */
const MAX_QUEUED = 64;
/** How long close() lets IPC peers finish before cutting them. */
const CLOSE_GRACE_MS = 1000;

interface IpcRequest {
  kind: 'publish';
  id: string | null;
  channels: string[];
  /** JSON text from a JSON frame; MessagePack (re-encoded after validation) from a MessagePack one. */
  data: string | Uint8Array;
  /** The request frame's format: its reply is written in it. */
  format: WireFormat;
}

type Entry = IpcRequest | { kind: 'error'; id: string | null; code: ErrorCode; message: string; format: WireFormat };

export class IpcServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** Set by close(): nothing more is published, so nothing is published without its ack. */
  private closing = false;

  private constructor(
    private readonly path: string,
    private readonly broker: Broker,
    private readonly counters: Counters,
    private readonly maxPayload: number,
    private readonly log: Logger,
  ) {
    this.server = createServer((s) => this.onConnection(s));
  }

  static async listen(path: string, broker: Broker, counters: Counters, maxPayload: number, log: Logger): Promise<IpcServer> {
    await clearStaleSocket(path);
    const ipc = new IpcServer(path, broker, counters, maxPayload, log);
    await new Promise<void>((resolve, reject) => {
      ipc.server.once('error', reject);
      // the socket file is created inside listen(): a umask of 0177 makes it 0600 from birth
      const old = process.umask(0o177);
      try {
        ipc.server.listen(path, () => resolve());
      } finally {
        process.umask(old);
      }
    });
    chmodSync(path, 0o600);
    return ipc;
  }

  /** Stops accepting, ends every connection (cut after CLOSE_GRACE_MS), removes the file. */
  async close(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.end();
    // a peer that keeps its half open must not hold the shutdown
    const cut = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, CLOSE_GRACE_MS);
    await closed;
    clearTimeout(cut);
    if (existsSync(this.path)) unlinkSync(this.path);
  }

  private onConnection(socket: Socket): void {
    this.sockets.add(socket);
    const decoder = new FrameDecoder(this.maxPayload);
    // requests and the errors for malformed frames, in arrival order: replies keep that order
    const queue: Entry[] = [];
    let busy = false;
    let held = false; // the head request was refused as overloaded and is being retried
    /** A reply built as JSON text, written in `format`. */
    const reply = (json: string, format: WireFormat): void => {
      if (!socket.destroyed) socket.write(encodeFrame(frameFor(json, format)));
    };

    const next = (): void => {
      // a connection that went away takes its unanswered requests with it (no retries left running)
      while (!busy && !socket.destroyed && !this.closing) {
        const entry = queue[0];
        if (entry === undefined) {
          if (socket.isPaused() && !socket.writableNeedDrain) socket.resume();
          return;
        }
        if (entry.kind === 'error') {
          queue.shift();
          reply(errorReply(entry.id, entry.code, entry.message), entry.format);
          continue;
        }
        busy = true;
        this.broker.publish(entry.channels, Payload.of(entry.data)).then(
          (seqs) => {
            busy = false;
            held = false;
            queue.shift();
            this.counters.mainAdd('ipcPublishes');
            this.counters.mainAdd('published', seqs.length);
            reply(ackFrame(entry.id, entry.channels, seqs), entry.format);
            next();
          },
          (err: unknown) => {
            busy = false;
            if (err instanceof ShardcastError && err.code === ErrorCode.Overloaded) {
              if (!held) this.counters.mainAdd('rejectedOverloaded'); // once per request, not per retry
              held = true;
              socket.pause(); // back-pressure: stop reading until this request goes through
              setTimeout(next, RETRY_MS);
              return;
            }
            held = false;
            queue.shift();
            const e = err instanceof ShardcastError ? err : new ShardcastError(ErrorCode.Internal, String(err));
            if (e.code === ErrorCode.PayloadTooLarge) this.counters.mainAdd('rejectedTooLarge');
            reply(errorReply(entry.id, e.code, e.message, detailOf(e)), entry.format);
            next();
          },
        );
      }
    };

    socket.on('data', (chunk: Buffer) => {
      for (const d of decoder.push(chunk)) {
        if (d.kind === 'oversized') {
          const format = d.msgpack ? WireFormat.Msgpack : WireFormat.Json;
          queue.push({ kind: 'error', id: null, code: ErrorCode.PayloadTooLarge, message: `frame of ${d.length} bytes is above the ${this.maxPayload}-byte limit`, format });
          continue;
        }
        const format = d.kind === 'json' ? WireFormat.Json : WireFormat.Msgpack;
        let value: unknown = null;
        try {
          value = d.kind === 'json' ? parseJson(d.text) : unpackValue(d.bytes);
          const req = parseRequest(value, format);
          // the limit applies to the data as it will be sent: re-serialised data can grow
          if (dataBytes(req.data) > this.maxPayload) {
            queue.push({ kind: 'error', id: req.id, code: ErrorCode.PayloadTooLarge, message: `data re-serialises to more than the ${this.maxPayload}-byte limit`, format });
          } else {
            queue.push(req);
          }
        } catch (err) {
          if (!(err instanceof ShardcastError)) throw err;
          queue.push({ kind: 'error', id: idOf(value), code: err.code, message: err.message, format });
        }
      }
      if (queue.length > MAX_QUEUED || socket.writableNeedDrain) socket.pause();
      next();
    });
    socket.on('drain', next);
    socket.on('error', (err) => this.log.debug(`ipc connection error: ${err.message}`));
    socket.on('close', () => {
      this.sockets.delete(socket);
      queue.length = 0;
    });
  }
}

function errorReply(id: string | null, code: ErrorCode, message: string, detail?: ErrorDetail): string {
  return JSON.stringify({ type: 'error', id, code, message, ...detail });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ShardcastError(ErrorCode.BadJson, 'frame is not valid JSON');
  }
}

/**
 * A decoded request frame, validated. The data is re-encoded in the frame's format by the
 * WebSocket publish rules: JSON text, or MessagePack (packValue), so binary stays binary.
 */
function parseRequest(v: unknown, format: WireFormat): IpcRequest {
  const m = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  if (m['type'] !== 'publish') {
    throw new ShardcastError(ErrorCode.UnknownType, 'IPC requests are {"type":"publish",…}');
  }
  // channel, channels or user (exactly one); then id and data by the WebSocket publish rules
  const channels = publishTargets(m);
  const one = toClientMessage({ ...m, channel: 'x', channels: undefined, user: undefined }, format);
  if (one.type !== 'publish') throw new Error('unreachable: type was checked above');
  return { kind: 'publish', id: one.id, channels, data: one.data, format };
}

/** The request's id for an error reply, if the frame decoded to something with a string id. */
function idOf(v: unknown): string | null {
  const id = typeof v === 'object' && v !== null ? (v as { id?: unknown }).id : undefined;
  return typeof id === 'string' ? id.slice(0, MAX_ACK_ID) : null;
}

/** Removes a socket file left by a dead server; refuses to steal one a live server uses. */
async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!statSync(path).isSocket()) throw new ShardcastError(ErrorCode.Internal, `--ipc-socket ${path} exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new ShardcastError(ErrorCode.Internal, `--ipc-socket ${path} is in use by another server`);
  unlinkSync(path);
}
