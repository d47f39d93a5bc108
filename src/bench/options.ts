/**
 * `shardcast bench` options: defaults, parsing of argv, and one validation pass shared by the
 * CLI and `runBench()`, so a bad value is reported the same way (and before any socket is
 * opened) whichever way the bench was started.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { parseSize } from '../protocol/sizes.js';
import { benchAuth, type BenchAuth } from './bench-token.js';
import { readBenchTls, type BenchTls } from './bench-tls.js';

export type Ingress = 'http' | 'ws' | 'ipc';
export type BenchFormat = 'json' | 'msgpack';

/** A bad flag or value: the CLI prints the message and exits with code 2. */
export class BenchUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BenchUsageError';
  }
}

/** What a caller may give `runBench()`; anything left out takes its default. */
export interface BenchInput {
  /** One node's WebSocket URL, or several nodes' (connection i goes to url i % n). */
  url: string | readonly string[];
  connections?: number;
  channels?: number;
  channelPrefix?: string;
  rampPerSecond?: number;
  publish?: Ingress;
  apiKey?: string | null;
  ipcSocket?: string | null;
  httpUrl?: string | null;
  /** Open loop, messages per second. Mutually exclusive with `inflight`. */
  rate?: number | null;
  /** Closed loop, publishes outstanding at most. */
  inflight?: number | null;
  size?: number;
  durationMs?: number | null;
  messages?: number | null;
  drainMs?: number;
  connectTimeoutMs?: number;
  threads?: number | null;
  /** Local processes whose CPU and RSS are the server's cost: one, or every process of a deployment (nodes, Redis). */
  serverPid?: number | readonly number[] | null;
  format?: BenchFormat;
  /** Share of the connections that stop reading once subscribed (slow consumers), 0 ≤ f < 1. */
  slowFraction?: number;
  /** Share of the connections cut once while publishing and reconnected with `since`, 0 ≤ f < 1. */
  reconnectFraction?: number;
  /** When they are cut, after the first publish (default: half the publishing time). */
  reconnectAtMs?: number | null;
  /** How long they stay away before connecting again (default 0: at once). */
  reconnectDelayMs?: number;
  /** A JWT every connection presents (server with JWT configured). */
  token?: string | null;
  /** A file holding that JWT. */
  tokenFile?: string | null;
  /** The server's HS256 secret: each connection mints its own token (own sub). */
  tokenSecret?: string | null;
  /** wss://: a PEM file of a CA to trust besides the system's (a private CA, a self-signed certificate). */
  ca?: string | null;
  /** wss://: accept any certificate (a test box). */
  insecure?: boolean;
}

/** Validated options with every default filled in. */
export interface BenchOptions {
  /** The URLs as given, space-separated (the report's title). */
  readonly url: string;
  /** The first node: the publisher's (ws ingress) and the HTTP API's unless --http-url says otherwise. */
  readonly target: WsTarget;
  /** Every node; connection i goes to targets[i % targets.length]. */
  readonly targets: readonly WsTarget[];
  /** HTTP base of the first node (publish, /api/stats, /metrics). */
  readonly httpUrl: string;
  /** Every node's HTTP base, httpUrl first: their /api/stats counters are summed. */
  readonly statsUrls: readonly string[];
  readonly connections: number;
  readonly channels: number;
  readonly channelPrefix: string;
  readonly rampPerSecond: number;
  readonly publish: Ingress;
  readonly apiKey: string | null;
  readonly ipcSocket: string | null;
  readonly rate: number | null;
  readonly inflight: number | null;
  readonly size: number;
  /** As given (null with --messages alone). */
  readonly durationMs: number | null;
  readonly messages: number | null;
  /** How long publishing may last: --duration, or a bound derived for --messages alone. */
  readonly publishLimitMs: number;
  readonly drainMs: number;
  readonly connectTimeoutMs: number;
  readonly threads: number;
  readonly serverPids: readonly number[];
  readonly format: BenchFormat;
  readonly slowFraction: number;
  /** How many connections are slow: round(fraction × connections), at least 1 when the fraction is not 0. */
  readonly slowConnections: number;
  readonly reconnectFraction: number;
  /** round(fraction × connections), at least 1 when the fraction is not 0. */
  readonly reconnectConnections: number;
  readonly reconnectAtMs: number;
  readonly reconnectDelayMs: number;
}

export interface WsTarget {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  /** How connections authenticate (see bench-token.ts); absent: no token. */
  readonly auth?: BenchAuth | null;
  /** wss:// (see bench-tls.ts); absent or null: plain ws://. */
  readonly tls?: BenchTls | null;
}

export const DEFAULTS = {
  connections: 1000,
  channels: 1,
  channelPrefix: 'bench-',
  rampPerSecond: 1000,
  publish: 'http' as Ingress,
  rate: 100,
  size: 256,
  durationMs: 10_000,
  drainMs: 5_000,
  connectTimeoutMs: 10_000,
  /** Connections one load thread is given before another thread is worth it. */
  connectionsPerThread: 500,
  /** Closed loop with --messages and no --duration: publishing stops after this long anyway. */
  closedLoopLimitMs: 60_000,
  /** Open loop with --messages and no --duration: the schedule's length plus this slack. */
  openLoopSlackMs: 10_000,
} as const;

/** The smallest data that still holds {"t":…,"i":…,"p":""} for any index. */
export const MIN_SIZE = 64;
export const MAX_SIZE = 16 * 1024 * 1024;

/** Flags the CLI parses; the option names double as the error vocabulary. */
const FLAGS = {
  url: { type: 'string', multiple: true },
  connections: { type: 'string' },
  channels: { type: 'string' },
  'channel-prefix': { type: 'string' },
  ramp: { type: 'string' },
  'connect-timeout': { type: 'string' },
  threads: { type: 'string' },
  publish: { type: 'string' },
  rate: { type: 'string' },
  inflight: { type: 'string' },
  size: { type: 'string' },
  duration: { type: 'string' },
  messages: { type: 'string' },
  drain: { type: 'string' },
  'api-key': { type: 'string' },
  'ipc-socket': { type: 'string' },
  'http-url': { type: 'string' },
  'server-pid': { type: 'string', multiple: true },
  json: { type: 'string' },
  html: { type: 'string' },
  format: { type: 'string' },
  'slow-fraction': { type: 'string' },
  'reconnect-fraction': { type: 'string' },
  'reconnect-at': { type: 'string' },
  'reconnect-delay': { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  'token-secret': { type: 'string' },
  ca: { type: 'string' },
  insecure: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ParsedArgs {
  help: boolean;
  input: BenchInput;
  json: string | null;
  html: string | null;
}

/** argv after `shardcast bench` → BenchInput (not yet validated beyond the syntax of each value). */
export function parseBenchArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedArgs {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof FLAGS; allowPositionals: true; strict: true; args: string[] }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: FLAGS, allowPositionals: true, strict: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const flag = /'(-[^' ]+)/.exec(e.message)?.[1] ?? '';
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new BenchUsageError(`unknown option ${flag}; see shardcast bench --help`);
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new BenchUsageError(`option ${flag} needs a value; see shardcast bench --help`);
    throw new BenchUsageError(`${e.message}; see shardcast bench --help`);
  }
  const v = parsed.values;
  if (v.help) return { help: true, input: { url: '' }, json: null, html: null };
  if (parsed.positionals.length > 1) throw new BenchUsageError(`unexpected arguments "${parsed.positionals.slice(1).join(' ')}"`);
  const positional = parsed.positionals[0];
  if (positional !== undefined && v.url !== undefined) throw new BenchUsageError('give the URLs one way: --url URL (repeatable) or one plain URL, not both');
  const url = v.url ?? (positional === undefined ? undefined : [positional]);
  if (url === undefined) throw new BenchUsageError('--url is required, e.g. shardcast bench --url ws://127.0.0.1:8080/ws');

  const input: BenchInput = { url };
  if (v.connections !== undefined) input.connections = int('--connections', v.connections);
  if (v.channels !== undefined) input.channels = int('--channels', v.channels);
  if (v['channel-prefix'] !== undefined) input.channelPrefix = v['channel-prefix'];
  if (v.ramp !== undefined) input.rampPerSecond = num('--ramp', v.ramp);
  if (v['connect-timeout'] !== undefined) input.connectTimeoutMs = duration('--connect-timeout', v['connect-timeout']);
  if (v.threads !== undefined) input.threads = int('--threads', v.threads);
  if (v.publish !== undefined) input.publish = v.publish as Ingress; // checked in resolveBenchOptions
  if (v.rate !== undefined) input.rate = num('--rate', v.rate);
  if (v.inflight !== undefined) input.inflight = int('--inflight', v.inflight);
  if (v.size !== undefined) input.size = size('--size', v.size);
  if (v.duration !== undefined) input.durationMs = duration('--duration', v.duration);
  if (v.messages !== undefined) input.messages = int('--messages', v.messages);
  if (v.drain !== undefined) input.drainMs = duration('--drain', v.drain);
  input.apiKey = v['api-key'] ?? env['SHARDCAST_API_KEY'] ?? null;
  if (v['ipc-socket'] !== undefined) input.ipcSocket = v['ipc-socket'];
  if (v['http-url'] !== undefined) input.httpUrl = v['http-url'];
  if (v['server-pid'] !== undefined) input.serverPid = v['server-pid'].map((pid) => int('--server-pid', pid));
  if (v.format !== undefined) input.format = v.format as BenchFormat;
  if (v['slow-fraction'] !== undefined) input.slowFraction = num('--slow-fraction', v['slow-fraction']);
  if (v['reconnect-fraction'] !== undefined) input.reconnectFraction = num('--reconnect-fraction', v['reconnect-fraction']);
  if (v['reconnect-at'] !== undefined) input.reconnectAtMs = duration('--reconnect-at', v['reconnect-at']);
  if (v['reconnect-delay'] !== undefined) input.reconnectDelayMs = duration('--reconnect-delay', v['reconnect-delay']);
  if (v.token !== undefined) input.token = v.token;
  if (v['token-file'] !== undefined) input.tokenFile = v['token-file'];
  if (v['token-secret'] !== undefined) input.tokenSecret = v['token-secret'];
  if (v.ca !== undefined) input.ca = v.ca;
  if (v.insecure !== undefined) input.insecure = v.insecure;
  // Validate everything now, so a typo is reported before a long run starts.
  resolveBenchOptions(input);
  return { help: false, input, json: v.json ?? null, html: v.html ?? null };
}

/** Fills defaults and checks every value and combination; throws BenchUsageError. */
export function resolveBenchOptions(input: BenchInput): BenchOptions {
  const given = typeof input.url === 'string' ? [input.url] : input.url;
  if (given.length === 0 || given.length > 64) throw new BenchUsageError(`invalid --url: 1 to 64 URLs (got ${given.length})`);
  const plain = given.map(wsTarget);
  const secure = plain[0]!.url.startsWith('wss:');
  if (plain.some((p) => p.url.startsWith('wss:') !== secure)) throw new BenchUsageError('invalid --url: every URL must be ws:// or every one wss:// (one TLS setting serves them all)');
  const auth = benchAuth(input);
  const tls = readBenchTls(secure, input.ca ?? null, input.insecure ?? false);
  const targets: WsTarget[] = plain.map((p) => ({ ...p.target, auth, tls }));
  const target = targets[0]!;
  const url = plain.map((p) => p.url).join(' ');
  const connections = range('--connections', input.connections ?? DEFAULTS.connections, 1, 1_000_000, true);
  const channels = range('--channels', input.channels ?? DEFAULTS.channels, 1, 100_000, true);
  const channelPrefix = input.channelPrefix ?? DEFAULTS.channelPrefix;
  const longest = `${channelPrefix}${channels - 1}`;
  if (!/^[A-Za-z0-9_\-:.@/]{1,200}$/.test(longest)) {
    throw new BenchUsageError(`invalid --channel-prefix ${JSON.stringify(channelPrefix)}: channel names are 1-200 characters of A-Z a-z 0-9 _ - : . @ /`);
  }
  const rampPerSecond = range('--ramp', input.rampPerSecond ?? DEFAULTS.rampPerSecond, 1, 1_000_000, false);

  const rawPublish = input.publish ?? (input.ipcSocket ? 'ipc' : DEFAULTS.publish);
  if (rawPublish !== 'http' && rawPublish !== 'ws' && rawPublish !== 'ipc') {
    throw new BenchUsageError(`invalid --publish ${JSON.stringify(rawPublish)} (http, ws or ipc)`);
  }
  const publish: Ingress = rawPublish;
  const ipcSocket = input.ipcSocket ?? null;
  if (publish === 'ipc' && !ipcSocket) throw new BenchUsageError('--publish ipc needs --ipc-socket PATH');
  if (publish !== 'ipc' && ipcSocket) throw new BenchUsageError(`--ipc-socket is only used with --publish ipc (got --publish ${publish})`);

  if (input.rate != null && input.inflight != null) {
    throw new BenchUsageError('give --rate (open loop) or --inflight (closed loop), not both');
  }
  const inflight = input.inflight == null ? null : range('--inflight', input.inflight, 1, 100_000, true);
  const rate = inflight !== null ? null : range('--rate', input.rate ?? DEFAULTS.rate, 0.01, 10_000_000, false);
  const size = range('--size', input.size ?? DEFAULTS.size, MIN_SIZE, MAX_SIZE, true);

  const messages = input.messages == null ? null : range('--messages', input.messages, 1, 1e12, true);
  const durationGiven = input.durationMs == null ? null : range('--duration', input.durationMs, 100, 7 * 24 * 3600_000, true);
  const durationMs = durationGiven ?? (messages === null ? DEFAULTS.durationMs : null);
  let publishLimitMs: number;
  if (durationMs !== null) publishLimitMs = durationMs;
  else if (rate !== null) publishLimitMs = Math.ceil(((messages ?? 0) / rate) * 1000) + DEFAULTS.openLoopSlackMs;
  else publishLimitMs = DEFAULTS.closedLoopLimitMs;

  const drainMs = range('--drain', input.drainMs ?? DEFAULTS.drainMs, 0, 600_000, true);
  const connectTimeoutMs = range('--connect-timeout', input.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs, 100, 300_000, true);
  const cores = Math.max(1, os.availableParallelism());
  const threads = input.threads == null
    ? Math.max(1, Math.min(cores, Math.ceil(connections / DEFAULTS.connectionsPerThread)))
    : range('--threads', input.threads, 1, 256, true);
  if (threads > connections) throw new BenchUsageError(`invalid --threads ${threads}: more threads than connections (${connections})`);

  const pids = input.serverPid == null ? [] : typeof input.serverPid === 'number' ? [input.serverPid] : input.serverPid;
  const serverPids = pids.map((pid) => range('--server-pid', pid, 1, 2 ** 31 - 1, true));
  if (new Set(serverPids).size !== serverPids.length) throw new BenchUsageError('invalid --server-pid: the same process given twice');
  const format = input.format ?? 'json';
  if (format !== 'json' && format !== 'msgpack') throw new BenchUsageError(`invalid --format ${JSON.stringify(format)} (json or msgpack)`);

  const slowFraction = range('--slow-fraction', input.slowFraction ?? 0, 0, 0.99, false);
  const slowConnections = slowFraction === 0 ? 0 : Math.max(1, Math.round(slowFraction * connections));
  if (slowConnections >= connections) {
    throw new BenchUsageError(`invalid --slow-fraction ${slowFraction}: it leaves no healthy connection out of ${connections}`);
  }

  const reconnectFraction = range('--reconnect-fraction', input.reconnectFraction ?? 0, 0, 0.99, false);
  const reconnectConnections = reconnectFraction === 0 ? 0 : Math.max(1, Math.round(reconnectFraction * connections));
  // the two scenarios pick their connections the same way: together they would pick the same ones
  if (reconnectConnections > 0 && slowConnections > 0) throw new BenchUsageError('give --reconnect-fraction or --slow-fraction, not both');
  const reconnectAtMs = input.reconnectAtMs == null ? Math.floor(publishLimitMs / 2) : range('--reconnect-at', input.reconnectAtMs, 0, publishLimitMs, true);
  const reconnectDelayMs = range('--reconnect-delay', input.reconnectDelayMs ?? 0, 0, 600_000, true);
  if ((input.reconnectAtMs != null || input.reconnectDelayMs != null) && reconnectConnections === 0) throw new BenchUsageError('--reconnect-at and --reconnect-delay need --reconnect-fraction');

  const httpUrl = httpBase(input.httpUrl ?? null, target);
  const statsUrls = [httpUrl, ...targets.slice(1).map((t) => httpBase(null, t))];
  const apiKey = input.apiKey ?? null;
  return {
    url, target, targets, httpUrl, statsUrls, connections, channels, channelPrefix, rampPerSecond, publish, apiKey, ipcSocket, rate, inflight,
    size, durationMs, messages, publishLimitMs, drainMs, connectTimeoutMs, threads, serverPids, format, slowFraction, slowConnections,
    reconnectFraction, reconnectConnections, reconnectAtMs, reconnectDelayMs,
  };
}

function wsTarget(raw: string): { target: WsTarget; url: string } {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new BenchUsageError(`invalid --url ${JSON.stringify(raw)} (a WebSocket URL such as ws://127.0.0.1:8080/ws)`);
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new BenchUsageError(`invalid --url ${JSON.stringify(raw)}: the scheme must be ws:// or wss://`);
  if (u.username || u.password) throw new BenchUsageError('invalid --url: credentials in the URL are not supported');
  // A bare ws://host:port means Shardcast's endpoint, not "/", which Shardcast answers 404.
  const path = (u.pathname === '/' && !/^wss?:\/\/[^/]+\/$/.test(raw) ? '/ws' : u.pathname) + u.search;
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port === '' ? (u.protocol === 'wss:' ? 443 : 80) : Number(u.port);
  return { target: { host, port, path }, url: `${u.protocol}//${u.host}${path}` };
}

function httpBase(given: string | null, target: WsTarget): string {
  if (given === null) {
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    return `${target.tls ? 'https' : 'http'}://${host}:${target.port}`;
  }
  let u: URL;
  try {
    u = new URL(given);
  } catch {
    throw new BenchUsageError(`invalid --http-url ${JSON.stringify(given)} (e.g. http://127.0.0.1:8080)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new BenchUsageError(`invalid --http-url ${JSON.stringify(given)}: http:// or https://`);
  // an https:// API is trusted as the wss:// URL is (--ca, --insecure); without wss:// there is nothing to say how
  if (u.protocol === 'https:' && !target.tls) throw new BenchUsageError(`invalid --http-url ${JSON.stringify(given)}: https:// needs a wss:// --url`);
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/$/, '')}`;
}

function range(flag: string, value: number, min: number, max: number, integer: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
    throw new BenchUsageError(`invalid ${flag} ${String(value)} (${integer ? 'a whole number' : 'a number'} from ${min} to ${max})`);
  }
  return value;
}

function num(flag: string, text: string): number {
  const n = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(n)) throw new BenchUsageError(`invalid ${flag} ${JSON.stringify(text)} (a positive number)`);
  return n;
}

function int(flag: string, text: string): number {
  const t = text.replace(/_/g, '');
  if (!/^\d+$/.test(t)) throw new BenchUsageError(`invalid ${flag} ${JSON.stringify(text)} (a whole number)`);
  return Number(t);
}

/** "30s", "500ms", "2m", "1h", or a plain number of seconds → milliseconds. */
export function duration(flag: string, text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) throw new BenchUsageError(`invalid ${flag} ${JSON.stringify(text)} (a duration such as 30s, 500ms, 2m)`);
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * scale);
}

/** "256", "4k", "1m" (KiB, MiB) → bytes. */
function size(flag: string, text: string): number {
  const n = parseSize(text);
  if (Number.isNaN(n)) throw new BenchUsageError(`invalid ${flag} ${JSON.stringify(text)} (bytes, e.g. 256, 4k, 1m)`);
  return n;
}
