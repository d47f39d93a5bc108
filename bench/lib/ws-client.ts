/**
 * A deliberately lean WebSocket client on raw `net` sockets, so that thousands of bench
 * connections cost the client thread as little CPU as possible and the server stays the thing
 * being measured.
 *
 * - Every socket of a thread reads into one shared buffer (`onread`), so a read allocates
 *   nothing; only the tail of a frame split across reads is copied into a per-connection buffer.
 * - Server frames are unmasked and parsed incrementally: 7-bit, 16-bit and 64-bit lengths,
 *   fragmented messages reassembled, ping answered with pong, close answered and ended.
 * - Complete message payloads are handed to the sink as (buffer, start, end) views that are
 *   valid only during the call: the sink decides how little to parse.
 */
import net from 'node:net';
import {
  OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT,
  expectedAccept, maskedFrame, newSecKey, textFrame, upgradeRequest,
} from './ws-wire.js';

export interface WsSink {
  onOpen(conn: WsConnection): void;
  /** A complete text or binary message in buf[start, end); the bytes are reused after return. */
  onMessage(conn: WsConnection, buf: Buffer, start: number, end: number): void;
  /** Called once, whether the close was clean, an error, or a failed handshake. */
  onClose(conn: WsConnection, reason: string): void;
}

export type WsState = 'connecting' | 'handshake' | 'open' | 'closed';

const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');
const MAX_HANDSHAKE_BYTES = 16 * 1024;
/** Bench messages are small; anything larger means we are misparsing the stream. */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;

// One read buffer per thread: onread callbacks run synchronously, one socket at a time.
const sharedReadBuffer = Buffer.allocUnsafe(256 * 1024);

export interface WsTarget {
  host: string;
  port: number;
  path: string;
}

export class WsConnection {
  state: WsState = 'connecting';
  /** Free slot for the sink's own per-connection bookkeeping (e.g. an index into typed arrays). */
  tag = 0;
  private readonly socket: net.Socket;
  private readonly secKey = newSecKey();
  private pending: Buffer | null = null;
  private fragments: Buffer[] | null = null;
  private fragmentBytes = 0;

  constructor(target: WsTarget, private readonly sink: WsSink) {
    this.socket = net.connect({
      host: target.host,
      port: target.port,
      noDelay: true,
      onread: {
        buffer: sharedReadBuffer,
        callback: (nread: number, buf: Uint8Array): boolean => {
          this.onBytes(buf as Buffer, nread);
          return true;
        },
      },
    });
    this.socket.once('connect', () => {
      this.state = 'handshake';
      this.socket.write(upgradeRequest(target.host, target.port, target.path, this.secKey));
    });
    this.socket.on('error', (err) => this.finish(`socket error: ${err.message}`));
    this.socket.once('close', () => this.finish('socket closed'));
  }

  sendText(text: string): void {
    if (this.state === 'open') this.socket.write(textFrame(text));
  }

  /** Abrupt close; used at teardown and on timeouts, where a closing handshake buys nothing. */
  destroy(reason = 'destroyed by client'): void {
    this.socket.destroy();
    this.finish(reason);
  }

  /** `destroySocket` is false only after a graceful `end()`, which must get to flush. */
  private finish(reason: string, destroySocket = true): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.pending = null;
    this.fragments = null;
    if (destroySocket) this.socket.destroy();
    this.sink.onClose(this, reason);
  }

  private protocolError(what: string): void {
    this.destroy(`protocol error: ${what}`);
  }

  private onBytes(chunk: Buffer, nread: number): void {
    if (this.state === 'closed') return;
    let data: Buffer = chunk;
    let start = 0;
    let end = nread;
    if (this.pending !== null) {
      data = Buffer.concat([this.pending, chunk.subarray(0, nread)]);
      end = data.length;
      this.pending = null;
    }
    if (this.state === 'handshake') {
      const headerEnd = data.indexOf(HEADER_END, 0);
      if (headerEnd < 0 || headerEnd + 4 > end) {
        if (end > MAX_HANDSHAKE_BYTES) return this.protocolError('handshake response too large');
        this.pending = Buffer.from(data.subarray(0, end));
        return;
      }
      const problem = this.checkHandshake(data.toString('latin1', 0, headerEnd));
      if (problem !== null) return this.protocolError(problem);
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
      if ((b1 & 0x80) !== 0) return this.protocolError('server frame is masked');
      if (len > MAX_FRAME_BYTES) return this.protocolError(`frame of ${len} bytes`);
      const payloadEnd = start + header + len;
      if (payloadEnd > end) break;
      this.onFrame(b0, data, start + header, payloadEnd);
      start = payloadEnd;
    }
    // Keep the unparsed tail; it must be copied because `chunk` is shared by all sockets.
    if (start < end && this.state === 'open') this.pending = Buffer.from(data.subarray(start, end));
  }

  private onFrame(b0: number, data: Buffer, start: number, end: number): void {
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    switch (opcode) {
      case OP_TEXT:
      case OP_BINARY:
        if (this.fragments !== null) return this.protocolError('new message inside a fragmented one');
        if (fin) return this.sink.onMessage(this, data, start, end);
        this.fragments = [Buffer.from(data.subarray(start, end))];
        this.fragmentBytes = end - start;
        return;
      case OP_CONTINUATION: {
        if (this.fragments === null) return this.protocolError('continuation without a first fragment');
        this.fragments.push(Buffer.from(data.subarray(start, end)));
        this.fragmentBytes += end - start;
        if (!fin) return;
        const whole = Buffer.concat(this.fragments, this.fragmentBytes);
        this.fragments = null;
        return this.sink.onMessage(this, whole, 0, whole.length);
      }
      case OP_PING:
        // Servers with idle timeouts ping; an unanswered ping would end idle connections early.
        this.socket.write(maskedFrame(OP_PONG, Buffer.from(data.subarray(start, end))));
        return;
      case OP_PONG:
        return;
      case OP_CLOSE: {
        const code = end - start >= 2 ? data.readUInt16BE(start) : 1005;
        const close = Buffer.alloc(2);
        close.writeUInt16BE(1000, 0);
        this.socket.end(maskedFrame(OP_CLOSE, close));
        return this.finish(`server closed (code ${code})`, false);
      }
      default:
        return this.protocolError(`unknown opcode ${opcode}`);
    }
  }

  private checkHandshake(head: string): string | null {
    const lines = head.split('\r\n');
    if (!/^HTTP\/1\.1 101\b/.test(lines[0] ?? '')) return `upgrade refused: ${lines[0]}`;
    const accept = lines.find((l) => l.toLowerCase().startsWith('sec-websocket-accept:'));
    if (accept === undefined) return 'no Sec-WebSocket-Accept';
    if (accept.slice(accept.indexOf(':') + 1).trim() !== expectedAccept(this.secKey)) return 'bad Sec-WebSocket-Accept';
    return null;
  }
}
