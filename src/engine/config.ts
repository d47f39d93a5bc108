/**
 * Config — the options (option-specs.ts: flag, variable, range, help) validated once, at
 * start, into a frozen Config with every default filled in; a bad value stops start-up with a
 * ConfigError naming the option, the value and what is allowed.
 */
import { availableParallelism } from 'node:os';
import { loadJwtSettings, type JwtSettings } from '../auth/jwt-settings.js';
import { KiB, LOG_LEVELS, MiB, specs, type LogLevel, type Options, type Spec } from './option-specs.js';
import { readOrigins, readPatterns } from './option-lists.js';
import { ConfigError } from '../protocol/errors.js';
import { readApiKeys, readTls } from './config-files.js';
import { readBroker } from './broker-options.js';
import { WS_AUTH, closedByDefault, isLoopback, jwtConfigured } from './closed-by-default.js';
import { parseSize } from '../protocol/sizes.js';

export { specs, type LogLevel, type Options } from './option-specs.js';

/** Shortest --channel-ttl besides 0 (ms). */
const MIN_CHANNEL_TTL = 100;

/** The validated, filled, frozen configuration. Sizes in bytes, times as the names say. */
export interface Config {
  readonly host: string;
  readonly port: number;
  readonly workers: number;
  /** Each shard worker's V8 young generation, MiB (resourceLimits.maxYoungGenerationSizeMb); 0 = V8's default. */
  readonly shardYoungGenerationMb: number;
  /** Bearer keys the HTTP API accepts (--api-key and --api-key-file together); [] = no key, open to loopback callers. */
  readonly apiKeys: readonly string[];
  readonly maxPayload: number;
  readonly maxBackpressure: number;
  readonly idleTimeout: number;
  readonly maxConnections: number;
  /** 0: no limit. */
  readonly maxConnectionsPerIp: number;
  /** Per second; 0: no limit. */
  readonly maxHandshakesPerIp: number;
  /** Token bucket size for maxHandshakesPerIp (0 when that is off). */
  readonly handshakeBurst: number;
  readonly maxSubscriptions: number;
  readonly maxChannels: number;
  /** Milliseconds; 0 = never forget. */
  readonly channelTtl: number;
  readonly ringSize: number;
  readonly ingressRingSize: number;
  readonly ipcSocket: string | null;
  /** Where publications are sequenced: this process, or Redis (several nodes). */
  readonly broker: 'memory' | 'redis';
  /** With broker 'redis': the checked URL (default redis://127.0.0.1:6379); null with 'memory'. */
  readonly redisUrl: string | null;
  /** --redis-cluster: redisUrl is a comma-separated list of a Redis Cluster's seed nodes. */
  readonly redisCluster: boolean;
  /** Channel patterns WebSocket clients may publish to (see channel-patterns.ts); [] = none. */
  /** Messages per channel kept for recovery (memory broker; Redis: the stream's MAXLEN ~); 0 = none. */
  readonly historySize: number;
  /** Seconds a history message is kept (memory broker); 0 = no time limit. */
  readonly historyTtl: number;
  /** Bytes of history over all channels (memory broker). */
  readonly historyMaxBytes: number;
  /** ms; 0 = no merging. */
  readonly mergeMs: number;
  readonly mergeMaxBytes: number;
  /** Channel patterns conflated within the merge window ([] = none). */
  readonly conflate: readonly string[];
  readonly clientPublish: readonly string[];
  /** Publishes per second per connection (0 = no limit). */
  readonly clientPublishRate: number;
  /** Publishes a connection may make at once above the rate. */
  readonly clientPublishBurst: number;
  /** Connections without a token are admitted (as anonymous). Always true without JWT. */
  readonly allowAnonymous: boolean;
  /** Channel patterns anonymous connections may subscribe to; [] = none. */
  readonly anonymousChannels: readonly string[];
  /** Exact origins allowed on a WebSocket upgrade that carries Origin; ['*'] = any, [] = none. */
  readonly allowedOrigins: readonly string[];
  /** TLS files (checked at start: readable PEM, key matching the certificate); null = plain ws:// and http://. */
  readonly tlsCert: string | null;
  readonly tlsKey: string | null;
  readonly tlsCa: string | null;
  /** Milliseconds a shard may leave its feed unread before it is cut loose (0 = never). */
  readonly shardStallTimeout: number;
  readonly shutdownTimeout: number;
  readonly logLevel: LogLevel;
  readonly logFormat: 'json' | 'pretty';
  /** Port of the main thread's admin server (0: any free one); null: the admin routes stay on the public port. */
  readonly adminPort: number | null;
  readonly adminHost: string;
  /** /dashboard is served (--dashboard; on the admin port when there is one). */
  readonly dashboard: boolean;
  /** Token authentication on the handshake (null: not configured; see src/auth/jwt-settings.ts). */
  readonly jwt: JwtSettings | null;
  readonly testHooks: boolean;
  /**
   * The options this Config was resolved from (flags and environment merged), kept so that
   * the credentials they name by file can be read again on reload (credentials.ts).
   */
  readonly source: Readonly<Options>;
}


const defaults = {
  port: 8080,
  workers: availableParallelism(),
  shardYoungGenerationMb: 12, // MiB (4 MiB semi-spaces); why: bench/RESULTS.md, issue 10 idle memory
  maxPayload: 64 * KiB,
  maxBackpressure: 1 * MiB,
  idleTimeout: 32, // seconds; uWS pings at about half of it
  maxConnections: 100_000,
  maxConnectionsPerIp: 0, // off: NAT puts many users behind one address
  maxHandshakesPerIp: 0, // off
  maxSubscriptions: 256,
  maxChannels: 1_000_000,
  channelTtl: 300_000, // ms
  ringSize: 16 * MiB,
  ingressRingSize: 4 * MiB,
  // ms. 20 measured best for CPU (bench/RESULTS.md, "Packet merging (issue 9)"), but under the
  // adversarial flood Node 24 then ends ~120 MiB higher in RSS (374–435 vs 260 MiB): off until fixed
  mergeMs: 0,
  mergeMaxBytes: 64 * KiB,
  historySize: 100,
  historyTtl: 300, // s
  historyMaxBytes: 32 * MiB,
  clientPublishRate: 100, // publishes per second per connection
  shardStallTimeout: 3000, // ms
  shutdownTimeout: 5000, // ms
  logLevel: 'info' as LogLevel,
};

/** Validates options (flags/env already merged) into a frozen Config. Throws ConfigError. */
export function resolveConfig(options: Options): Config {
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(specs, key)) throw new ConfigError(key, (options as Record<string, unknown>)[key], `unknown option; known: ${Object.keys(specs).join(', ')}`);
  }
  const apiKeys = readApiKeys(options);
  const host = str(options, 'host') ?? (apiKeys.length === 0 ? '127.0.0.1' : '0.0.0.0');
  if (apiKeys.length === 0 && !isLoopback(host)) {
    throw new ConfigError('host', host, closedByDefault(['--api-key KEY (or --api-key-file FILE) for the HTTP API', ...(jwtConfigured(options) || bool(options, 'allowAnonymous', false) ? [] : [WS_AUTH])]));
  }
  const loopback = isLoopback(host);
  const jwt = jwtConfigured(options);
  // closed by default: beyond loopback the WebSocket side must be a decision too — tokens
  // (JWT) or an explicit --allow-anonymous; on loopback, without JWT, it stays open as before
  const allowAnonymous = bool(options, 'allowAnonymous', !jwt && loopback);
  if (!jwt && !allowAnonymous) {
    if (options.allowAnonymous === undefined) throw new ConfigError('host', host, closedByDefault([WS_AUTH]));
    throw new ConfigError('allowAnonymous', options.allowAnonymous, 'true unless JWT is configured (--jwt-secret, --jwt-public-key or --jwks-file): without JWT every connection is anonymous, so false would admit nobody');
  }
  const logLevel = (str(options, 'logLevel') ?? defaults.logLevel) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('logLevel', logLevel, `one of ${LOG_LEVELS.join(', ')}`);

  const maxHandshakesPerIp = num(options, 'maxHandshakesPerIp', defaults.maxHandshakesPerIp);
  if (maxHandshakesPerIp === 0 && options.handshakeBurst !== undefined) {
    throw new ConfigError('handshakeBurst', options.handshakeBurst, 'only with maxHandshakesPerIp above 0 (the burst of a handshake rate limit)');
  }
  const config: Mutable<Config> = {
    host,
    port: num(options, 'port', defaults.port),
    workers: num(options, 'workers', defaults.workers),
    shardYoungGenerationMb: num(options, 'shardYoungGenerationMb', defaults.shardYoungGenerationMb),
    apiKeys,
    maxPayload: num(options, 'maxPayload', defaults.maxPayload),
    maxBackpressure: num(options, 'maxBackpressure', defaults.maxBackpressure),
    idleTimeout: num(options, 'idleTimeout', defaults.idleTimeout),
    maxConnections: num(options, 'maxConnections', defaults.maxConnections),
    maxConnectionsPerIp: num(options, 'maxConnectionsPerIp', defaults.maxConnectionsPerIp),
    maxHandshakesPerIp,
    // two seconds' worth at full rate: a page's reconnect plus a retry pass, a flood does not
    handshakeBurst: maxHandshakesPerIp === 0 ? 0 : num(options, 'handshakeBurst', 2 * maxHandshakesPerIp),
    maxSubscriptions: num(options, 'maxSubscriptions', defaults.maxSubscriptions),
    maxChannels: num(options, 'maxChannels', defaults.maxChannels),
    channelTtl: num(options, 'channelTtl', defaults.channelTtl),
    ringSize: num(options, 'ringSize', defaults.ringSize),
    ingressRingSize: num(options, 'ingressRingSize', defaults.ingressRingSize),
    ipcSocket: str(options, 'ipcSocket'),
    ...readBroker(str(options, 'broker'), str(options, 'redisUrl'), bool(options, 'redisCluster', false)),
    historySize: num(options, 'historySize', defaults.historySize),
    historyTtl: num(options, 'historyTtl', defaults.historyTtl),
    historyMaxBytes: num(options, 'historyMaxBytes', defaults.historyMaxBytes),
    mergeMs: num(options, 'mergeMs', defaults.mergeMs),
    mergeMaxBytes: 0, // below: its default follows the ring size
    conflate: readPatterns(options, 'conflate', []),
    // open on loopback (local development), closed once the server faces a network
    clientPublish: readPatterns(options, 'clientPublish', loopback ? ['*'] : []),
    clientPublishRate: num(options, 'clientPublishRate', defaults.clientPublishRate),
    clientPublishBurst: 0, // below: its default follows the rate
    allowAnonymous,
    // as open as before on loopback (local development); nothing to read anonymously beyond it
    anonymousChannels: readPatterns(options, 'anonymousChannels', loopback ? ['*'] : []),
    // browsers may connect from anywhere during local development; beyond it, only from listed pages
    allowedOrigins: readOrigins(options, loopback ? ['*'] : []),
    ...readTls(options),
    shardStallTimeout: num(options, 'shardStallTimeout', defaults.shardStallTimeout),
    shutdownTimeout: num(options, 'shutdownTimeout', defaults.shutdownTimeout),
    logLevel,
    ...readAdmin(options, apiKeys.length > 0, host),
    jwt: loadJwtSettings({
      jwtSecret: str(options, 'jwtSecret'),
      jwtPublicKey: str(options, 'jwtPublicKey'),
      jwksFile: str(options, 'jwksFile'),
      jwtAudience: str(options, 'jwtAudience'),
      jwtIssuer: str(options, 'jwtIssuer'),
      jwtLeeway: num(options, 'jwtLeeway', 0),
    }),
    testHooks: bool(options, 'testHooks', false),
    source: Object.freeze({ ...options }),
  };
  config.clientPublishBurst = num(options, 'clientPublishBurst', Math.max(1, 2 * config.clientPublishRate));
  if (config.shardYoungGenerationMb > 0 && config.shardYoungGenerationMb < 3) throw new ConfigError('shardYoungGenerationMb', options.shardYoungGenerationMb, '0 (V8\'s default) or 3 to 1024 MiB');
  if (config.shardStallTimeout !== 0 && config.shardStallTimeout < 100) {
    throw new ConfigError('shardStallTimeout', options.shardStallTimeout, '0 (never) or 100 to 600000 milliseconds');
  }
  // below 100 ms the sweep (every ttl / 4) would run all the time
  if (config.channelTtl > 0 && config.channelTtl < MIN_CHANNEL_TTL) {
    throw new ConfigError('channelTtl', options.channelTtl, `0 (never forget) or ${MIN_CHANNEL_TTL} to ${specs.channelTtl.max} milliseconds`);
  }
  if (config.conflate.length > 0 && config.mergeMs === 0) {
    throw new ConfigError('conflate', options.conflate, 'conflation keeps the latest message of each merge window: set mergeMs (--merge-ms) above 0 too');
  }
  config.mergeMaxBytes = num(options, 'mergeMaxBytes', Math.min(defaults.mergeMaxBytes, config.ringSize / 8));
  if (config.mergeMaxBytes > config.ringSize / 8) {
    throw new ConfigError('mergeMaxBytes', config.mergeMaxBytes, `at most ringSize / 8 = ${config.ringSize / 8} bytes (a window's record holds one frame per format); raise ringSize or lower mergeMaxBytes`);
  }
  // combinations: a ring must hold several of the largest records
  for (const ring of ['ringSize', 'ingressRingSize'] as const) {
    if (config[ring] < 4 * (config.maxPayload + 1024)) {
      throw new ConfigError(ring, config[ring], `at least 4 × (maxPayload + 1 KiB) = ${4 * (config.maxPayload + 1024)} bytes for maxPayload ${config.maxPayload}; raise it or lower maxPayload`);
    }
  }
  return Object.freeze(config);
}

/** --log-format, --admin-port and --admin-host, checked together. */
function readAdmin(options: Options, hasKey: boolean, host: string): Pick<Config, 'logFormat' | 'adminPort' | 'adminHost' | 'dashboard'> {
  const logFormat = str(options, 'logFormat') ?? 'json';
  if (logFormat !== 'json' && logFormat !== 'pretty') throw new ConfigError('logFormat', logFormat, 'json or pretty');
  const adminPort = options.adminPort === undefined ? null : num(options, 'adminPort', 0);
  const adminHost = str(options, 'adminHost') ?? '127.0.0.1';
  if (adminPort === null && options.adminHost !== undefined) throw new ConfigError('adminHost', options.adminHost, 'only with adminPort (--admin-port): the address of the admin port');
  // as for --host: /api/stats beyond loopback only behind a key
  if (!isLoopback(adminHost) && !hasKey) throw new ConfigError('adminHost', adminHost, 'a loopback address (127.0.0.0/8, ::1, localhost), or an API key (--api-key or --api-key-file) for /api/stats beyond loopback');
  const port = num(options, 'port', defaults.port);
  if (adminPort !== null && adminPort !== 0 && adminPort === port) throw new ConfigError('adminPort', adminPort, `another port than port (${port}): the admin routes leave the public port`);
  // a new page must not appear on a network address by itself: beyond loopback it is a decision (and then behind the key)
  const dashboard = str(options, 'dashboard') ?? (isLoopback(adminPort === null ? host : adminHost) ? 'on' : 'off');
  if (dashboard !== 'on' && dashboard !== 'off') throw new ConfigError('dashboard', dashboard, 'on or off');
  return { logFormat, adminPort, adminHost, dashboard: dashboard === 'on' };
}

/** Reads SHARDCAST_* variables into Options (flags given later override them). */
export function optionsFromEnv(env: NodeJS.ProcessEnv): Options {
  const out: Record<string, string> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const v = env[spec.env];
    if (v !== undefined && v !== '') out[key] = v;
  }
  return out as Options;
}

function str(o: Options, key: keyof Options): string | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError(key, v, 'a non-empty string');
  return v;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function bool(o: Options, key: keyof Options, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  throw new ConfigError(key, v, 'true or false');
}

function num(o: Options, key: keyof Options, dflt: number): number {
  const spec = specs[key];
  const raw = o[key];
  if (raw === undefined) return dflt;
  const allowed = describeRange(spec);
  let n: number;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string') n = parseNumber(raw, spec.kind === 'size');
  else throw new ConfigError(key, raw, allowed);
  if (!Number.isSafeInteger(n)) throw new ConfigError(key, raw, allowed);
  if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) throw new ConfigError(key, raw, allowed);
  if (spec.powerOfTwo && (n & (n - 1)) !== 0) throw new ConfigError(key, raw, allowed);
  return n;
}

function parseNumber(s: string, size: boolean): number {
  if (size) return parseSize(s);
  return /^\s*\d+\s*$/.test(s) ? Number(s) : NaN;
}

function describeRange(spec: Spec): string {
  const what = spec.kind === 'size' ? 'a byte size (e.g. 65536, 64k, 1m)' : 'an integer';
  const pow = spec.powerOfTwo ? ', a power of two' : '';
  return `${what} from ${spec.min} to ${spec.max}${pow}`;
}
