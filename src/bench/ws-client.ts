/**
 * A deliberately lean WebSocket client on raw `net` sockets, so that thousands of bench
 * connections cost the client as little CPU as possible and the server stays the thing being
 * measured.
 *
 * - Every socket of a thread reads into one shared buffer (`onread`), so a read allocates
 *   nothing; only the tail of a frame split across reads is copied into a per-connection buffer.
 * - Server frames are unmasked and parsed incrementally: 7-, 16- and 64-bit lengths,
 *   fragmented messages reassembled, ping answered with pong, close answered and ended.
 * - Complete message payloads are handed to the sink as (buffer, start, end) views that are
 *   valid only during the call: the sink decides how little to parse.
 * - Every way a connection can end is reduced to one short, aggregatable label
 *   ("ECONNREFUSED", "HTTP 503", "close 4001 slow consumer" …): the report counts by label.
 */
import net from 'node:net';
import tls from 'node:tls';
import { tlsConnectOptions } from './bench-tls.js';
import type { WsTarget } from './options.js';
import {
  OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT,
  closeFrame, expectedAccept, maskedFrame, newSecKey, textFrame, upgradeRequest,
} from './ws-wire.js';

export interface WsSink {
  onOpen(conn: WsConnection): void;
  /** A complete text or binary message in buf[start, end); the bytes are reused after return. */
  onMessage(conn: WsConnection, buf: Buffer, start: number, end: number): void;
  /** Called once, however the connection ended; `label` is the reason to count it under. */
  onClose(conn: WsConnection, label: string): void;
}

export type WsState = 'connecting' | 'handshake' | 'open' | 'closing' | 'closed';

/** The label of a close this client asked for (never a failure). */
export const CLOSED_BY_CLIENT = 'closed by client';

const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');
const MAX_HANDSHAKE_BYTES = 16 * 1024;
/** Far above any sane bench message; a larger length means the stream is being misparsed. */
const MAX_FRAME_BYTES = 256 * 1024 * 1024;

// One read buffer per thread: onread callbacks run synchronously, one socket at a time.
const sharedReadBuffer = Buffer.allocUnsafe(256 * 1024);

export class WsConnection {
  state: WsState = 'connecting';
  /** Free slot for the sink's own per-connection bookkeeping (an index into typed arrays). */
  tag = 0;
  private readonly socket: net.Socket;
  private readonly secKey = newSecKey();
  /** Unparsed bytes carried over from earlier reads (copies: the read buffer is shared). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes needed to complete the frame started in `pending` (0 when not known yet). */
  private pendingNeed = 0;
  private fragments: Buffer[] | null = null;
  private fragmentBytes = 0;
  /** The socket error's code, if one came before the close: it names the close better. */
  private errorCode: string | null = null;

  /** `protocol`: the subprotocol to ask for (the frame format); the server must echo it. */
  constructor(target: WsTarget, private readonly sink: WsSink, private readonly protocol: string | null = null) {
    const onread = {
      buffer: sharedReadBuffer,
      callback: (nread: number, buf: Uint8Array): boolean => {
        this.onBytes(buf as Buffer, nread);
        return true;
      },
    };
    // wss://: the same shared read buffer receives the decrypted bytes (tls.connect documents
    // onread, as net.connect does, though @types/node leaves it out of ConnectionOptions)
    const secure: tls.ConnectionOptions & { onread: typeof onread } | null = target.tls ? { host: target.host, port: target.port, onread, ...tlsConnectOptions(target.tls, target.host) } : null;
    this.socket = secure !== null
      ? tls.connect(secure).setNoDelay(true)
      : net.connect({ host: target.host, port: target.port, noDelay: true, onread });
    this.socket.once(target.tls ? 'secureConnect' : 'connect', () => {
      if (this.state !== 'connecting') return;
      this.state = 'handshake';
      this.socket.write(upgradeRequest(target.host, target.port, target.path, this.secKey, protocol));
    });
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      this.errorCode ??= err.code ?? err.message;
    });
    this.socket.once('close', () => this.finish(this.lostLabel()));
  }

  sendText(text: string): boolean {
    if (this.state !== 'open') return false;
    this.socket.write(textFrame(text));
    return true;
  }

  /** A message as a text frame (a string) or a binary frame (bytes). */
  send(message: string | Buffer): boolean {
    if (typeof message === 'string') return this.sendText(message);
    if (this.state !== 'open') return false;
    this.socket.write(maskedFrame(OP_BINARY, message));
    return true;
  }

  /** Bytes queued in this socket's send buffer (back-pressure on the publisher). */
  get writableLength(): number {
    return this.socket.writableLength;
  }

  /**
   * A slow consumer: stop reading from the kernel (with `onread`, pause() stops the handle at
   * once), so the socket buffers fill and the server's send buffer grows, as with a client on a
   * congested link. Bytes already read are still parsed.
   */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  /** Clean close: a close frame (1000), then FIN once it is written. */
  close(): void {
    if (this.state === 'open') {
      this.state = 'closing';
      this.socket.end(closeFrame(1000));
      this.finish(CLOSED_BY_CLIENT, false);
    } else {
      this.destroy(CLOSED_BY_CLIENT);
    }
  }

  /** True once the TCP socket is fully closed (after close(), when the server has answered). */
  get socketClosed(): boolean {
    return this.socket.destroyed;
  }

  /** Cuts the TCP connection whatever state it is in (teardown of stragglers after close()). */
  forceDestroy(): void {
    this.socket.destroy();
    this.finish(CLOSED_BY_CLIENT);
  }

  /** Abrupt close; for timeouts and for stragglers at teardown. */
  destroy(label = CLOSED_BY_CLIENT): void {
    this.socket.destroy();
    this.finish(label);
  }

  /** `destroySocket` is false only after a graceful `end()`, which must get to flush. */
  private finish(label: string, destroySocket = true): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.pending = [];
    this.pendingBytes = 0;
    this.fragments = null;
    if (destroySocket) this.socket.destroy();
    this.sink.onClose(this, label);
  }

  private lostLabel(): string {
    if (this.errorCode !== null) return this.errorCode;
    // The peer ended the TCP connection without a WebSocket close frame (what browsers call 1006).
    return this.state === 'open' ? 'close 1006 (no close frame)' : 'connection closed during the handshake';
  }

  private onBytes(chunk: Buffer, nread: number): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    let data: Buffer = chunk;
    let start = 0;
    let end = nread;
    if (this.pendingBytes > 0) {
      // A large frame arrives over many reads: collect them and join once, not once per read.
      if (this.pendingNeed > 0 && this.pendingBytes + nread < this.pendingNeed) return this.keep(chunk, 0, nread);
      data = Buffer.concat([...this.pending, chunk.subarray(0, nread)]);
      end = data.length;
      this.pending = [];
      this.pendingBytes = 0;
      this.pendingNeed = 0;
    }
    if (this.state === 'handshake' || this.state === 'connecting') {
      const headerEnd = data.indexOf(HEADER_END, 0);
      if (headerEnd < 0 || headerEnd + 4 > end) {
        if (end > MAX_HANDSHAKE_BYTES) return this.destroy('protocol error: handshake response too large');
        return this.keep(data, 0, end);
      }
      const problem = this.checkHandshake(data.toString('latin1', 0, headerEnd));
      if (problem !== null) return this.destroy(problem);
      this.state = 'open';
      start = headerEnd + 4;
      this.sink.onOpen(this);
    }
    while (end - start >= 2 && this.state === 'open') {
      const b0 = data[start]!;
      const b1 = data[start + 1]!;
      let len = b1 & 0x7f;
      let header = 2;
      if (len === 126) {
        if (end - start < 4) break;
        len = data.readUInt16BE(start + 2);
        header = 4;
      } else if (len === 127) {
        if (end - start < 10) break;
        len = data.readUInt32BE(start + 2) * 2 ** 32 + data.readUInt32BE(start + 6);
        header = 10;
      }
      if ((b1 & 0x80) !== 0) return this.destroy('protocol error: server frame is masked');
      if (len > MAX_FRAME_BYTES) return this.destroy(`protocol error: frame of ${len} bytes`);
      const payloadEnd = start + header + len;
      if (payloadEnd > end) {
        this.pendingNeed = header + len;
        break;
      }
      this.onFrame(b0, data, start + header, payloadEnd);
      start = payloadEnd;
    }
    if (start < end && this.state === 'open') this.keep(data, start, end);
    else this.pendingNeed = 0;
  }

  /** Copies data[start, end) aside for the next read. */
  private keep(data: Buffer, start: number, end: number): void {
    this.pending.push(Buffer.from(data.subarray(start, end)));
    this.pendingBytes += end - start;
  }

  private onFrame(b0: number, data: Buffer, start: number, end: number): void {
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    switch (opcode) {
      case OP_TEXT:
      case OP_BINARY:
        if (this.fragments !== null) return this.destroy('protocol error: new message inside a fragmented one');
        if (fin) return this.sink.onMessage(this, data, start, end);
        this.fragments = [Buffer.from(data.subarray(start, end))];
        this.fragmentBytes = end - start;
        return;
      case OP_CONTINUATION: {
        if (this.fragments === null) return this.destroy('protocol error: continuation without a first fragment');
        this.fragments.push(Buffer.from(data.subarray(start, end)));
        this.fragmentBytes += end - start;
        if (!fin) return;
        const whole = Buffer.concat(this.fragments, this.fragmentBytes);
        this.fragments = null;
        return this.sink.onMessage(this, whole, 0, whole.length);
      }
      case OP_PING:
        // Servers with idle timeouts ping; an unanswered ping would end quiet connections early.
        this.socket.write(maskedFrame(OP_PONG, Buffer.from(data.subarray(start, end))));
        return;
      case OP_PONG:
        return;
      case OP_CLOSE: {
        const code = end - start >= 2 ? data.readUInt16BE(start) : 1005;
        const text = end - start > 2 ? data.toString('utf8', start + 2, Math.min(end, start + 2 + 123)).trim() : '';
        this.state = 'closing';
        this.socket.end(closeFrame(1000)); // answer the closing handshake, then FIN
        return this.finish(text ? `close ${code} ${text}` : `close ${code}`, false);
      }
      default:
        return this.destroy(`protocol error: unknown opcode ${opcode}`);
    }
  }

  /** null when the upgrade succeeded, else the label of the refusal ("HTTP 503", …). */
  private checkHandshake(head: string): string | null {
    const lines = head.split('\r\n');
    const status = /^HTTP\/1\.[01] (\d{3})\b/.exec(lines[0] ?? '');
    if (status === null) return 'protocol error: not an HTTP response';
    if (status[1] !== '101') return `HTTP ${status[1]}`;
    const accept = lines.find((l) => l.toLowerCase().startsWith('sec-websocket-accept:'));
    if (accept === undefined) return 'protocol error: no Sec-WebSocket-Accept';
    if (accept.slice(accept.indexOf(':') + 1).trim() !== expectedAccept(this.secKey)) return 'protocol error: bad Sec-WebSocket-Accept';
    if (this.protocol !== null) {
      // Without the echo the server did not agree to the format: its frames would be misread.
      const echoed = lines.find((l) => l.toLowerCase().startsWith('sec-websocket-protocol:'));
      if (echoed?.slice(echoed.indexOf(':') + 1).trim() !== this.protocol) return `protocol error: ${this.protocol} not accepted`;
    }
    return null;
  }
}
