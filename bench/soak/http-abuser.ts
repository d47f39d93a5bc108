/**
 * The HTTP abuser: requests to the HTTP API that are wrong in every way a backend (or anyone
 * who can reach the port) can make them wrong — bad bodies, wrong keys, bodies above the
 * limit (declared or streamed), slow bodies, oversized headers, garbage instead of HTTP — each
 * with the answers a correct server may give. A 500, an `internal` code, a request left
 * without an answer, or a dropped connection where an answer is owed is unexpected.
 */
import { between } from '../../test/fixtures/prng.js';
import { isSkipped } from './attack-mix.js';
import { errorCodeOf, rawHttp, type HttpOutcome, type Part } from './raw-http.js';
import { HTTP_IDLE_CLOSE_MS, LEGIT_ERROR_CODES, LEGIT_EXTRA_HTTP_STATUSES } from './settings.js';
import type { Tally } from './tally.js';

export interface HttpContext {
  readonly port: number;
  readonly localAddress: string;
  readonly apiKey: string;
  readonly maxPayload: number;
  readonly rng: () => number;
  readonly tally: Tally;
  readonly stopped: () => boolean;
  /** Abuse kinds left out of this run (parts of kind names). */
  readonly skip: readonly string[];
}

interface Abuse {
  kind: string;
  parts: Part[];
  /** Right statuses (with their error codes, if given); a 200 carries a seq. */
  statuses: readonly number[];
  codes?: readonly string[];
  /** Closing the connection without an answer is right too. */
  mayDrop: boolean;
  abandonAfterMs?: number;
  /** Not a complete request: nothing is owed but a close by the server's HTTP idle timeout. */
  notARequest?: true;
}

const ANSWER_TIMEOUT_MS = 15_000;

const pick = <T>(rng: () => number, xs: readonly T[]): T => xs[rng() % xs.length]!;

function post(path: string, body: string, headers: Record<string, string>): string {
  const h = Object.entries({ host: '127.0.0.1', 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `POST ${path} HTTP/1.1\r\n${h}\r\n${body}`;
}

function nestedJson(rng: () => number, bytes: number): string {
  const d = between(rng, Math.floor(bytes / 4), Math.floor(bytes / 2));
  return '['.repeat(d) + ']'.repeat(d);
}

function digits(rng: () => number, n: number): string {
  let s = '9';
  while (s.length < n) s += String(rng() % 1e9).padStart(9, '0');
  return s.slice(0, n);
}

function nextAbuse(ctx: HttpContext, slow: boolean): Abuse {
  const { rng, maxPayload: max } = ctx;
  const auth = { authorization: `Bearer ${ctx.apiKey}` };
  const publishBody = (): string => JSON.stringify({ channel: `abuse:http:${rng() % 8}`, data: { n: rng(), pad: 'p'.repeat(between(rng, 0, 2000)) } });
  if (slow) {
    // a valid publish dripped in pieces; sometimes given up half-way
    const body = publishBody();
    const req = post('/api/publish', body, auth);
    const cut = req.indexOf('\r\n\r\n') + 4;
    const parts: Part[] = [req.slice(0, cut)];
    const pieces = between(rng, 3, 20);
    const step = Math.ceil(body.length / pieces);
    for (let i = 0; i < body.length; i += step) parts.push(between(rng, 20, 150), body.slice(i, i + step));
    if (rng() % 3 === 0) return { kind: 'slow body, abandoned', parts, statuses: [], mayDrop: true, abandonAfterMs: between(rng, 200, 1500) };
    // a slow writer's publish is accepted or refused like any other
    return { kind: 'slow body', parts, statuses: [200, 503], mayDrop: false };
  }
  switch (rng() % 12) {
    case 0:
      return { kind: 'body not JSON', parts: [post('/api/publish', pick(rng, ['', '{', '{"channel":"a","data":1', 'null x', '\u0000', `{${'x'.repeat(between(rng, 1, 4000))}`]), auth)], statuses: [400], codes: ['bad_json'], mayDrop: false };
    case 1: {
      const channels = Array.from({ length: 101 }, (_, i) => `abuse:c${i}`);
      const body = pick(rng, ['[]', '"x"', '{"channel":"abuse:x"}', '{"data":1}', '{"channel":"a b","data":1}', '{"channel":"","data":1}', `{"channel":"${'c'.repeat(between(rng, 201, max - 100))}","data":1}`,
        JSON.stringify({ channels, data: 1 }), '{"channels":["abuse:a","abuse:a"],"data":1}', '{"channels":[],"data":1}', '{"channel":"abuse:a","channels":["abuse:b"],"data":1}',
        '{"__proto__":{"data":1},"channel":"abuse:proto"}', '{"channel":"abuse:proto","constructor":{"prototype":{"data":1}}}', '{"channel":{"toString":"x"},"data":1}']);
      return { kind: 'body of the wrong shape', parts: [post('/api/publish', body, auth)], statuses: [400], codes: ['bad_message', 'bad_channel'], mayDrop: false };
    }
    case 2:
      // parsed (it fits the limit), so it must be answered: accepted, refused, never a crash
      return { kind: 'body nested deep', parts: [post('/api/publish', `{"channel":"abuse:deep","data":${nestedJson(rng, max - 100)}}`, auth)], statuses: [200, 400, 413, 503], mayDrop: false };
    case 3:
      return { kind: 'body with a 30,000-digit number', parts: [post('/api/publish', `{"channel":"abuse:numbers","data":${pick(rng, ['', '-', '0.'])}${digits(rng, 30_000)}}`, auth)], statuses: [200, 400, 413, 503], mayDrop: false };
    case 4: {
      const key = pick(rng, [null, '', ctx.apiKey.slice(0, -1), `${ctx.apiKey}x`, ctx.apiKey.toUpperCase(), 'x'.repeat(4000)]);
      const scheme = pick(rng, ['Bearer ', 'Basic ', 'bearer  ', '']);
      const headers: Record<string, string> = key === null ? {} : { authorization: `${scheme}${key}` };
      const path = pick(rng, ['/api/publish', '/api/stats', '/api/channels']);
      const parts = path === '/api/publish' ? [post(path, publishBody(), headers)] : [`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n${key === null ? '' : `authorization: ${scheme}${key}\r\n`}\r\n`];
      return { kind: 'wrong API key', parts, statuses: [401], codes: ['unauthorized'], mayDrop: false };
    }
    case 5: {
      // declared above the limit: refused on the header, body or not
      const declared = pick(rng, [max + 1, 10 * max, 2 ** 40]);
      return { kind: 'declared body above the limit', parts: [`POST /api/publish HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${ctx.apiKey}\r\ncontent-length: ${declared}\r\n\r\n`, 'x'.repeat(between(rng, 0, 4096))], statuses: [413], codes: ['payload_too_large'], mayDrop: true };
    }
    case 6: {
      // streamed past the limit in chunks
      const chunk = 'x'.repeat(16 * 1024);
      const parts: Part[] = [`POST /api/publish HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${ctx.apiKey}\r\ntransfer-encoding: chunked\r\n\r\n`];
      for (let sent = 0; sent <= max + chunk.length; sent += chunk.length) parts.push(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      parts.push('0\r\n\r\n');
      return { kind: 'chunked body above the limit', parts, statuses: [413], codes: ['payload_too_large'], mayDrop: true };
    }
    case 7: {
      const headers = rng() % 2 === 0
        ? `x-big: ${'h'.repeat(between(rng, 8 * 1024, 64 * 1024))}\r\n`
        : Array.from({ length: between(rng, 60, 600) }, (_, i) => `x-h${i}: ${i}\r\n`).join('');
      return { kind: 'oversized headers', parts: [`GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n${headers}\r\n`], statuses: [200, 400, 431], mayDrop: true };
    }
    case 8: {
      const noise = Buffer.alloc(between(rng, 1, 2048));
      for (let i = 0; i < noise.length; i++) noise[i] = rng() & 0xff;
      // uWS may answer these 400 or wait for the rest of a request head until its idle timeout
      if (rng() % 3 === 0) return { kind: 'garbage instead of HTTP, no request', parts: [pick<string | Buffer>(rng, [noise, 'GET\r\n\r\n', '\r\n\r\n\r\n'])], statuses: [400], mayDrop: true, notARequest: true };
      // HTTP/1.0 and 9.9: 20.30 holds the connection until its idle timeout, 20.57 answers 505
      const garbage = pick(rng, ['GET / HTTP/9.9\r\n\r\n', `GET /${'u'.repeat(between(rng, 4096, 65536))} HTTP/1.1\r\nhost: x\r\n\r\n`,
        'POST /api/publish HTTP/1.1\r\ncontent-length: -1\r\n\r\n', 'POST /api/publish HTTP/1.1\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n{}', 'GET /healthz HTTP/1.0\r\n\r\n']);
      return { kind: 'garbage instead of HTTP', parts: [garbage], statuses: [200, 400, 404, 405, 413, 414, 431, 505], mayDrop: true, notARequest: true };
    }
    case 9: {
      const [line, status] = pick(rng, [['PUT /api/publish', 405], ['DELETE /healthz', 405], ['GET /api/publish', 405], ['POST /metrics', 405], ['GET /nope', 404], ['POST /ws', 404], ['OPTIONS /api/stats', 405]] as const);
      return { kind: 'wrong method or route', parts: [`${line} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: ${auth.authorization}\r\ncontent-length: 0\r\n\r\n`], statuses: [status], mayDrop: false };
    }
    case 10: {
      // a bad upgrade request: refused or dropped; a 101 would be wrong
      const key = pick(rng, ['', 'short', 'x'.repeat(1000)]);
      const version = pick(rng, ['13', '8', '', '99999999999']);
      return { kind: 'bad upgrade', parts: [`GET /ws HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: ${key}\r\nsec-websocket-version: ${version}\r\n\r\n`], statuses: [101, 400, 404, 426], mayDrop: true };
    }
    default: {
      // the read routes, which make the main thread ask every shard (channels: every churned name)
      const path = pick(rng, ['/api/channels', '/api/stats', '/metrics', '/healthz']);
      return { kind: 'read routes', parts: [`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${ctx.apiKey}\r\n\r\n`], statuses: [200], mayDrop: false };
    }
  }
}

const timeoutOf = (a: Abuse): number => (a.notARequest ? Math.max(ANSWER_TIMEOUT_MS, HTTP_IDLE_CLOSE_MS) : ANSWER_TIMEOUT_MS);

function judge(ctx: HttpContext, a: Abuse, o: HttpOutcome): void {
  const { tally } = ctx;
  if (a.abandonAfterMs !== undefined) {
    tally.add('answer:http', `${a.kind} → ${o.status ?? (o.abandoned ? 'abandoned' : 'dropped')}`);
    return;
  }
  if (o.timedOut) return tally.unexpected('no HTTP answer', `${a.kind}: nothing within ${timeoutOf(a)} ms`);
  if (o.status === null) {
    tally.add('answer:http', `${a.kind} → dropped`);
    if (!a.mayDrop) tally.unexpected('HTTP connection dropped', `${a.kind}: closed without an answer`);
    return;
  }
  const code = errorCodeOf(o.body);
  tally.add('answer:http', `${a.kind} → ${o.status}${code === null ? '' : ` ${code}`}`);
  // 503 is overload; 505 answers an HTTP version uWS does not speak (listed where it may come)
  if (o.status >= 500 && o.status !== 503 && !a.statuses.includes(o.status)) return tally.unexpected(`HTTP ${o.status}`, `${a.kind}: ${o.body}`);
  if (code !== null && !LEGIT_ERROR_CODES.has(code)) return tally.unexpected(`error code ${code}`, `${a.kind}: ${o.body}`);
  const statusOk = a.statuses.includes(o.status) || (a.mayDrop && LEGIT_EXTRA_HTTP_STATUSES.has(o.status));
  const codeOk = a.codes === undefined || o.status === 200 || (code !== null && a.codes.includes(code));
  if (!statusOk || !codeOk) tally.unexpected(`wrong HTTP answer to ${a.kind}`, `expected ${a.statuses.join('|')} ${a.codes?.join('|') ?? ''}, got ${o.status} ${o.body}`);
}

/** One abuser: requests back to back until stopped. `slow` ones drip their bodies. */
export async function httpAbuseLoop(ctx: HttpContext, slow: boolean): Promise<void> {
  while (!ctx.stopped()) {
    let a = nextAbuse(ctx, slow);
    while (isSkipped(a.kind, ctx.skip)) a = nextAbuse(ctx, slow);
    ctx.tally.add('sent', `http ${a.kind}`);
    const o = await rawHttp({ port: ctx.port, localAddress: ctx.localAddress, parts: a.parts, timeoutMs: timeoutOf(a), ...(a.abandonAfterMs === undefined ? {} : { abandonAfterMs: a.abandonAfterMs }) });
    judge(ctx, a, o);
    if (o.dropped && o.status === null) await new Promise((r) => setTimeout(r, 20)); // no busy loop against a port nobody answers
  }
}
