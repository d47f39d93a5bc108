/**
 * The few RFC 6455 pieces a bench client needs: the upgrade request, the accept-key check
 * and masked client frames. Server→client frame parsing lives in ws-client.ts because it is
 * interleaved with per-connection buffering.
 */
import { createHash, randomBytes } from 'node:crypto';

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function newSecKey(): string {
  return randomBytes(16).toString('base64');
}

export function expectedAccept(secKey: string): string {
  return createHash('sha1').update(secKey + WS_GUID).digest('base64');
}

/** `protocol`: a subprotocol to offer (Sec-WebSocket-Protocol), or null for none. */
export function upgradeRequest(host: string, port: number, path: string, secKey: string, protocol: string | null = null): Buffer {
  const hostHeader = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\n` +
      `Host: ${hostHeader}\r\n` +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${secKey}\r\n` +
      (protocol === null ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`) +
      'Sec-WebSocket-Version: 13\r\n\r\n',
    'latin1',
  );
}

/** A complete (FIN) masked client frame; clients must mask, servers must reject unmasked ones. */
export function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const headerLen = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLen + 4 + len);
  frame[0] = 0x80 | opcode;
  if (len < 126) {
    frame[1] = 0x80 | len;
  } else if (len < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    frame.writeUInt32BE(len >>> 0, 6);
  }
  const mask = randomBytes(4);
  mask.copy(frame, headerLen);
  const body = headerLen + 4;
  for (let i = 0; i < len; i++) frame[body + i] = payload[i]! ^ mask[i & 3]!;
  return frame;
}

export function textFrame(text: string): Buffer {
  return maskedFrame(OP_TEXT, Buffer.from(text, 'utf8'));
}

export function closeFrame(code: number): Buffer {
  const body = Buffer.alloc(2);
  body.writeUInt16BE(code, 0);
  return maskedFrame(OP_CLOSE, body);
}
