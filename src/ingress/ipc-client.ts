/**
 * IpcClient — a small client for the IPC socket (see ipc-framing.ts): sends publish
 * requests and matches each reply to its request (replies come back in order).
 */
import { createConnection, type Socket } from 'node:net';
import { ErrorCode } from '../protocol/codes.js';
import { ShardcastError } from '../protocol/errors.js';
import { FrameDecoder, encodeFrame } from './ipc-framing.js';

export type IpcReply =
  | { type: 'ack'; id: string | null; seq?: number; seqs?: Record<string, number> }
  | { type: 'error'; id: string | null; code: ErrorCode; message: string };

export class IpcClient {
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024);
  private readonly waiting: Array<(r: IpcReply) => void> = [];
  private closedError: Error | null = null;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const d of this.decoder.push(chunk)) {
        if (d.kind !== 'frame') continue;
        this.waiting.shift()?.(JSON.parse(d.text) as IpcReply);
      }
    });
    socket.on('close', () => {
      this.closedError ??= new Error('IPC socket closed');
      for (const w of this.waiting.splice(0)) w({ type: 'error', id: null, code: ErrorCode.Internal, message: this.closedError.message });
    });
    socket.on('error', (err) => (this.closedError = err));
  }

  static connect(path: string): Promise<IpcClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new IpcClient(s));
      });
      s.once('error', reject);
    });
  }

  /** Sends one raw request (any JSON text) and resolves with its reply. */
  request(json: string): Promise<IpcReply> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.socket.write(encodeFrame(json));
    });
  }

  /** Publishes and resolves with the seq; rejects with a ShardcastError on an error reply. */
  async publish(channel: string, data: unknown, id?: string): Promise<number> {
    const r = await this.request(JSON.stringify({ type: 'publish', channel, data, ...(id === undefined ? {} : { id }) }));
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
