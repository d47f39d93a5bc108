/**
 * IpcClient — a small client for the IPC socket (see ipc-framing.ts): sends publish
 * requests and matches each reply to its request (replies come back in order). With
 * `format: 'msgpack'` publish() sends MessagePack frames; with JSON (the default) it does
 * too for data holding binary (Uint8Array/Buffer), as the in-process publish() does, so
 * binary reaches MessagePack subscribers as binary instead of as JSON's idea of a Buffer.
 */
import { createConnection, type Socket } from 'node:net';
import { ErrorCode } from '../protocol/codes.js';
import { ShardcastError } from '../protocol/errors.js';
import { holdsBinary, packValue, unpackValue } from '../protocol/payload.js';
import { FrameDecoder, encodeFrame, type Decoded } from './ipc-framing.js';

export type IpcReply =
  | { type: 'ack'; id: string | null; seq?: number; seqs?: Record<string, number> }
  | { type: 'error'; id: string | null; code: ErrorCode; message: string };

export interface IpcClientOptions {
  /** The format publish() writes requests in (default json); replies come in the same one. */
  readonly format?: 'json' | 'msgpack';
}

export class IpcClient {
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024);
  private readonly waiting: Array<(r: IpcReply) => void> = [];
  private closedError: Error | null = null;

  private constructor(
    private readonly socket: Socket,
    private readonly format: 'json' | 'msgpack',
  ) {
    socket.on('data', (chunk: Buffer) => {
      for (const d of this.decoder.push(chunk)) {
        if (d.kind !== 'oversized') this.waiting.shift()?.(replyOf(d));
      }
    });
    socket.on('close', () => {
      this.closedError ??= new Error('IPC socket closed');
      for (const w of this.waiting.splice(0)) w({ type: 'error', id: null, code: ErrorCode.Internal, message: this.closedError.message });
    });
    socket.on('error', (err) => (this.closedError = err));
  }

  static connect(path: string, options: IpcClientOptions = {}): Promise<IpcClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new IpcClient(s, options.format ?? 'json'));
      });
      s.once('error', reject);
    });
  }

  /** Sends one raw request — JSON text, or MessagePack bytes — and resolves with its reply. */
  request(frame: string | Uint8Array): Promise<IpcReply> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.socket.write(encodeFrame(frame));
    });
  }

  /** Publishes and resolves with the seq; rejects with a ShardcastError on an error reply. */
  async publish(channel: string, data: unknown, id?: string): Promise<number> {
    const req = { type: 'publish', channel, data, ...(id === undefined ? {} : { id }) };
    const r = await this.request(this.format === 'msgpack' || holdsBinary(data) ? packValue(req) : JSON.stringify(req));
    if (r.type === 'error') throw new ShardcastError(r.code, r.message);
    return r.seq!;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }
}

/** A reply frame, in whichever format it came; one that does not decode is reported as an error reply. */
function replyOf(d: Exclude<Decoded, { kind: 'oversized' }>): IpcReply {
  try {
    return (d.kind === 'json' ? JSON.parse(d.text) : unpackValue(d.bytes)) as IpcReply;
  } catch (err) {
    return { type: 'error', id: null, code: ErrorCode.Internal, message: `unreadable reply: ${(err as Error).message}` };
  }
}
