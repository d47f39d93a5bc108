/**
 * Writing HTTP answers from a shard. uWS wants status line, headers and body in one corked
 * write, and never a write to a response whose client went away (onAborted).
 */
import { STATUS_CODES } from 'node:http';
import { httpStatus, type ErrorCode } from '../protocol/codes.js';
import type { HttpAnswer } from '../engine/control.js';
import type { ErrorDetail } from '../protocol/errors.js';
import type { HttpResponse } from '../transport/uws.js';

export function sendAnswer(res: HttpResponse, a: HttpAnswer): void {
  res.cork(() => {
    res.writeStatus(`${a.status} ${STATUS_CODES[a.status] ?? ''}`);
    res.writeHeader('content-type', a.contentType);
    if (a.headers) for (const [k, v] of Object.entries(a.headers)) res.writeHeader(k, v);
    res.end(a.body);
  });
}

export function sendJson(res: HttpResponse, status: number, body: string, headers?: Record<string, string>): void {
  sendAnswer(res, { status, contentType: 'application/json', body, ...(headers ? { headers } : {}) });
}

/** An error body: {"error":{"code":…,"message":…}} with the code's HTTP status. */
export function sendError(res: HttpResponse, code: ErrorCode, message: string, extra?: Record<string, string>, detail?: ErrorDetail): void {
  const headers: Record<string, string> = { ...(httpStatus[code] === 503 ? { 'retry-after': '1' } : {}), ...extra };
  sendJson(res, httpStatus[code], JSON.stringify({ error: { code, message, ...detail } }), headers);
}
