/**
 * Config — every server option in one table: its flag, its SHARDCAST_* variable, its type,
 * range, default and meaning. The CLI's --help, the README's table and the validator all
 * read this table. Options are validated once, at start, into a frozen Config; a bad value
 * stops start-up with a ConfigError naming the option, the value and what is allowed.
 */
import { availableParallelism } from 'node:os';
import { MAX_LEEWAY, loadJwtSettings, type JwtSettings } from '../auth/jwt-settings.js';
import { readOrigins, readPatterns } from './option-lists.js';
import { ConfigError } from '../protocol/errors.js';
import { readApiKeys, readTls } from './config-files.js';
import { readBroker } from './broker-options.js';
import { parseSize } from '../protocol/sizes.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Shortest --channel-ttl besides 0 (ms). */
const MIN_CHANNEL_TTL = 100;

type Kind = 'int' | 'size' | 'string' | 'bool' | 'patterns';

interface Spec {
  readonly kind: Kind;
  readonly flag: string;
  readonly env: string;
  readonly help: string;
  readonly min?: number;
  readonly max?: number;
  readonly powerOfTwo?: boolean;
  /** Hidden from --help and the README (test-only switches). */
  readonly hidden?: boolean;
}

/** Input options, as given to startServer() or parsed from flags/env (strings allowed there). */
export interface Options {
  host?: string;
  port?: number | string;
  workers?: number | string;
  shardYoungGenerationMb?: number | string;
  /** One key, or several comma-separated (rotation). */
  apiKey?: string;
  /** A file with one key per line (blank lines and # comments ignored). */
  apiKeyFile?: string;
  maxPayload?: number | string;
  maxBackpressure?: number | string;
  idleTimeout?: number | string;
  maxConnections?: number | string;
  maxConnectionsPerIp?: number | string;
  maxHandshakesPerIp?: number | string;
  handshakeBurst?: number | string;
  maxSubscriptions?: number | string;
  maxChannels?: number | string;
  channelTtl?: number | string;
  ringSize?: number | string;
  ingressRingSize?: number | string;
  ipcSocket?: string;
  /** 'memory' (one machine, the default) or 'redis' (several nodes on one Redis). */
  broker?: string;
  /** redis://[user:password@]host[:port][/db] or rediss://… (TLS); with broker 'redis'. */
  redisUrl?: string;
  mergeMs?: number | string;
  mergeMaxBytes?: number | string;
  /** Channel patterns whose merge window keeps only the latest message (array or comma-separated). */
  conflate?: boolean | string | readonly string[];
  /** Channel patterns (array, or a comma-separated string); true = all, false = none. */
  clientPublish?: boolean | string | readonly string[];
  clientPublishRate?: number | string;
  clientPublishBurst?: number | string;
  /** Admit connections without a token (the only kind when JWT is not configured). */
  allowAnonymous?: boolean | string;
  /** Channel patterns anonymous connections may subscribe to (array or comma-separated); true = all, false = none. */
  anonymousChannels?: boolean | string | readonly string[];
  /** Origins browser pages may connect from (array or comma-separated); '*' = any. */
  allowedOrigins?: string | readonly string[];
  /** PEM certificate file (may hold the chain after it): serve wss:// and https://. */
  tlsCert?: string;
  /** PEM private key file of tlsCert (unencrypted). */
  tlsKey?: string;
  /** PEM file of the intermediate certificate(s) to send after tlsCert (its chain). */
  tlsCa?: string;
  shardStallTimeout?: number | string;
  shutdownTimeout?: number | string;
  logLevel?: string;
  jwtSecret?: string;
  jwtPublicKey?: string;
  jwksFile?: string;
  jwtAudience?: string;
  jwtIssuer?: string;
  jwtLeeway?: number | string;
  testHooks?: boolean | string;
}

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
  /** Channel patterns WebSocket clients may publish to (see channel-patterns.ts); [] = none. */
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
  /** Token authentication on the handshake (null: not configured; see src/auth/jwt-settings.ts). */
  readonly jwt: JwtSettings | null;
  readonly testHooks: boolean;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

export const specs: { readonly [K in keyof Options]-?: Spec } = {
  host: { kind: 'string', flag: '--host', env: 'SHARDCAST_HOST', help: 'Address to listen on. Default 127.0.0.1; 0.0.0.0 when an API key is set. Beyond loopback the server refuses to start unless it has an API key and either JWT or --allow-anonymous (closed by default).' },
  port: { kind: 'int', flag: '--port', env: 'SHARDCAST_PORT', min: 0, max: 65535, help: 'TCP port for WebSocket (/ws) and HTTP (/api/*). 0 picks a free port. Default 8080.' },
  workers: { kind: 'int', flag: '--workers', env: 'SHARDCAST_WORKERS', min: 1, max: 256, help: 'Shard worker threads. Default: the number of CPU cores.' },
  shardYoungGenerationMb: { kind: 'int', flag: '--shard-young-generation-mb', env: 'SHARDCAST_SHARD_YOUNG_GENERATION_MB', min: 0, max: 1024, help: 'Each shard worker\'s V8 young generation in MiB (three semi-spaces\' worth): a connection burst then leaves less heap behind, for the same throughput (bench/RESULTS.md). 0 = V8\'s default (up to 48, grown under load); otherwise at least 3. Default 12.' },
  apiKey: { kind: 'string', flag: '--api-key', env: 'SHARDCAST_API_KEY', help: 'Bearer key for the HTTP API (/api/*; at least 8 characters, no spaces or commas); several comma-separated keys are all accepted (rotation). Without a key, the server listens on loopback only and the API is open to local callers.' },
  apiKeyFile: { kind: 'string', flag: '--api-key-file', env: 'SHARDCAST_API_KEY_FILE', help: 'File holding the HTTP API key(s), one per line (blank lines and lines starting with # ignored), read at start, so that no key is on the command line. Adds to --api-key.' },
  maxPayload: { kind: 'size', flag: '--max-payload', env: 'SHARDCAST_MAX_PAYLOAD', min: 128, max: 16 * MiB, help: 'Largest client frame, HTTP body or IPC frame, in bytes (k/m suffixes allowed). Default 64k.' },
  maxBackpressure: { kind: 'size', flag: '--max-backpressure', env: 'SHARDCAST_MAX_BACKPRESSURE', min: 16 * KiB, max: 1024 * MiB, help: 'Per-connection send buffer limit in bytes; a client past it is closed with 4001 (slow consumer). Default 1m.' },
  idleTimeout: { kind: 'int', flag: '--idle-timeout', env: 'SHARDCAST_IDLE_TIMEOUT', min: 8, max: 960, help: 'Seconds without traffic before a connection is closed; the server pings idle clients before that. Default 32.' },
  maxConnections: { kind: 'int', flag: '--max-connections', env: 'SHARDCAST_MAX_CONNECTIONS', min: 1, max: 10_000_000, help: 'Connections allowed at once over all shards; more are refused with HTTP 503. Default 100000.' },
  maxConnectionsPerIp: { kind: 'int', flag: '--max-connections-per-ip', env: 'SHARDCAST_MAX_CONNECTIONS_PER_IP', min: 0, max: 10_000_000, help: 'Connections allowed at once from one client address (an IPv4 address, or an IPv6 /64) over all shards; more are refused with HTTP 429. 0 (the default) = no limit, since NAT and proxies put many users behind one address.' },
  maxHandshakesPerIp: { kind: 'int', flag: '--max-handshakes-per-ip', env: 'SHARDCAST_MAX_HANDSHAKES_PER_IP', min: 0, max: 10_000, help: 'WebSocket handshakes per second allowed from one client address (IPv4, or IPv6 /64) over all shards; faster ones are refused with HTTP 429 and Retry-After. 0 (the default) = no limit.' },
  handshakeBurst: { kind: 'int', flag: '--handshake-burst', env: 'SHARDCAST_HANDSHAKE_BURST', min: 1, max: 100_000, help: 'Handshakes one address may make back to back before --max-handshakes-per-ip paces it (its token bucket size). Default 2 × --max-handshakes-per-ip; needs that option.' },
  maxSubscriptions: { kind: 'int', flag: '--max-subscriptions', env: 'SHARDCAST_MAX_SUBSCRIPTIONS', min: 1, max: 100_000, help: 'Channels one connection may subscribe to. Default 256.' },
  maxChannels: { kind: 'int', flag: '--max-channels', env: 'SHARDCAST_MAX_CHANNELS', min: 1, max: 100_000_000, help: 'Channels with sequence state at once (each costs the main thread and every shard a few hundred bytes); a publish that would create one more is refused with too_many_channels (HTTP 503). Default 1000000.' },
  channelTtl: { kind: 'int', flag: '--channel-ttl', env: 'SHARDCAST_CHANNEL_TTL', min: 0, max: 86_400_000, help: 'Milliseconds a channel with no subscriber and no publication keeps its sequence state; then it is forgotten and its next publication starts a new epoch at seq 1. 0 = never forget; otherwise at least 100. Default 300000 (5 minutes).' },
  ringSize: { kind: 'size', flag: '--ring-size', env: 'SHARDCAST_RING_SIZE', min: 256 * KiB, max: 1024 * MiB, powerOfTwo: true, help: 'Bytes of the broadcast ring (main → shards), a power of two from 256k, at least 4 × (max-payload + 1k). Default 16m.' },
  ingressRingSize: { kind: 'size', flag: '--ingress-ring-size', env: 'SHARDCAST_INGRESS_RING_SIZE', min: 64 * KiB, max: 1024 * MiB, powerOfTwo: true, help: 'Bytes of each shard → main ring (client and HTTP publishes), a power of two, at least 4 × (max-payload + 1k). Default 4m.' },
  ipcSocket: { kind: 'string', flag: '--ipc-socket', env: 'SHARDCAST_IPC_SOCKET', help: 'Path of a Unix domain socket (mode 0600) that local producers publish through. Default: none.' },
  broker: { kind: 'string', flag: '--broker', env: 'SHARDCAST_BROKER', help: 'memory (one machine) or redis (several Shardcast nodes sharing one Redis 7+: a publish on any node reaches the subscribers of every node, in one order per channel). Default memory.' },
  redisUrl: { kind: 'string', flag: '--redis-url', env: 'SHARDCAST_REDIS_URL', help: 'Redis of --broker redis: redis://[user:password@]host[:port][/db], or rediss://… for TLS. Default redis://127.0.0.1:6379.' },
  mergeMs: { kind: 'int', flag: '--merge-ms', env: 'SHARDCAST_MERGE_MS', min: 0, max: 1000, help: 'Milliseconds over which what a channel receives is merged into one frame (an array of messages), encoded once per channel per window: far fewer frames and system calls for at most this much added latency. 0 = every message at once. Default 0 for now; 20 is the measured best (bench/RESULTS.md), not yet the default because windows raise memory under a publish flood.' },
  mergeMaxBytes: { kind: 'size', flag: '--merge-max-bytes', env: 'SHARDCAST_MERGE_MAX_BYTES', min: 1 * KiB, max: 16 * MiB, help: 'Largest merged frame in bytes; a window past it is split, in order (a single larger message still goes alone). At most 1/8 of --ring-size. Default 64k (or 1/8 of a smaller ring).' },
  conflate: { kind: 'patterns', flag: '--conflate', env: 'SHARDCAST_CONFLATE', help: 'Channels (comma-separated patterns as for --client-publish) whose merge window delivers only its latest message, marked with "replaces": n (tickers, scores, cursors). Needs --merge-ms above 0. Default: none.' },
  clientPublish: { kind: 'patterns', flag: '--client-publish', env: 'SHARDCAST_CLIENT_PUBLISH', help: 'Channels WebSocket clients may publish to: comma-separated patterns, each a channel name or a prefix ending in * (e.g. "chat:*,lobby"); * for all; --no-client-publish for none. Default: * when listening on loopback, none otherwise.' },
  clientPublishRate: { kind: 'int', flag: '--client-publish-rate', env: 'SHARDCAST_CLIENT_PUBLISH_RATE', min: 0, max: 1_000_000, help: 'Publishes per second one WebSocket connection may make (token bucket); over it: rate_limited, and a client that goes on past another burst is closed with 1008. 0 = no limit. Default 100.' },
  clientPublishBurst: { kind: 'int', flag: '--client-publish-burst', env: 'SHARDCAST_CLIENT_PUBLISH_BURST', min: 1, max: 1_000_000, help: 'Publishes a connection may make at once before --client-publish-rate applies. Default 2 × the rate (at least 1).' },
  allowAnonymous: { kind: 'bool', flag: '--allow-anonymous', env: 'SHARDCAST_ALLOW_ANONYMOUS', help: 'Admit WebSocket connections without a token, as anonymous (they subscribe only to --anonymous-channels and publish only to --client-publish). Required beyond loopback unless JWT is configured; on loopback without JWT every connection is anonymous anyway.' },
  anonymousChannels: { kind: 'patterns', flag: '--anonymous-channels', env: 'SHARDCAST_ANONYMOUS_CHANNELS', help: 'Channels anonymous connections may subscribe to: comma-separated patterns as for --client-publish; * for all; --no-anonymous-channels for none. Default: * on loopback, none otherwise (a subscribe outside them gets forbidden).' },
  allowedOrigins: { kind: 'string', flag: '--allowed-origins', env: 'SHARDCAST_ALLOWED_ORIGINS', help: 'Web pages that may open WebSocket connections: comma-separated exact origins (https://app.example.com), or * for any. An upgrade whose Origin header is not listed is refused with HTTP 403 (origin_not_allowed); clients that send no Origin (not browsers) are not concerned. Default: * on loopback, none otherwise.' },
  tlsCert: { kind: 'string', flag: '--tls-cert', env: 'SHARDCAST_TLS_CERT', help: 'PEM certificate file: every shard serves wss:// and https:// (needs --tls-key). It may hold the intermediate certificates after the server\'s own. Checked at start.' },
  tlsKey: { kind: 'string', flag: '--tls-key', env: 'SHARDCAST_TLS_KEY', help: 'PEM private key file of --tls-cert (unencrypted; keep it mode 0600). Checked at start: it must match the certificate.' },
  tlsCa: { kind: 'string', flag: '--tls-ca', env: 'SHARDCAST_TLS_CA', help: 'PEM file of the intermediate certificate(s) that chain --tls-cert to a root clients trust, sent after it in the handshake. Not a client-certificate CA.' },
  shardStallTimeout: { kind: 'int', flag: '--shard-stall-timeout', env: 'SHARDCAST_SHARD_STALL_TIMEOUT', min: 0, max: 600_000, help: 'Milliseconds a shard may leave records of the broadcast ring unread before it is cut loose so the others go on; its clients are closed with 4002 and it is replaced. 0 = never (a stalled shard then holds publishing up). Default 3000.' },
  shutdownTimeout: { kind: 'int', flag: '--shutdown-timeout', env: 'SHARDCAST_SHUTDOWN_TIMEOUT', min: 100, max: 600_000, help: 'Milliseconds for a graceful shutdown: clients get up to half of it (1 s at most) to receive their close frame; close() fails if shards take 2 s longer than this. Default 5000.' },
  logLevel: { kind: 'string', flag: '--log-level', env: 'SHARDCAST_LOG_LEVEL', help: `One of ${LOG_LEVELS.join(', ')}. Default info.` },
  jwtSecret: { kind: 'string', flag: '--jwt-secret', env: 'SHARDCAST_JWT_SECRET', help: 'Require a JWT on every WebSocket handshake, signed HS256/384/512 with this secret (at least 32 bytes). One key source only. Default: none.' },
  jwtPublicKey: { kind: 'string', flag: '--jwt-public-key', env: 'SHARDCAST_JWT_PUBLIC_KEY', help: 'Require a JWT on every WebSocket handshake, verified with the public key in this PEM file (RSA: RS*/PS*; EC: the ES* of its curve; Ed25519: EdDSA). Default: none.' },
  jwksFile: { kind: 'string', flag: '--jwks-file', env: 'SHARDCAST_JWKS_FILE', help: 'Require a JWT on every WebSocket handshake, verified with the key of its "kid" in this JSON Web Key Set file (public keys only). Default: none.' },
  jwtAudience: { kind: 'string', flag: '--jwt-audience', env: 'SHARDCAST_JWT_AUDIENCE', help: 'Tokens must carry this "aud". Default: not checked.' },
  jwtIssuer: { kind: 'string', flag: '--jwt-issuer', env: 'SHARDCAST_JWT_ISSUER', help: 'Tokens must carry this "iss". Default: not checked.' },
  jwtLeeway: { kind: 'int', flag: '--jwt-leeway', env: 'SHARDCAST_JWT_LEEWAY', min: 0, max: MAX_LEEWAY, help: `Seconds of clock skew allowed on a token's exp and nbf (0-${MAX_LEEWAY}). Default 0.` },
  testHooks: { kind: 'bool', flag: '--test-hooks', env: 'SHARDCAST_TEST_HOOKS', hidden: true, help: 'Test-only: allow injecting faults into shards.' },
};

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
    ...readBroker(str(options, 'broker'), str(options, 'redisUrl')),
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
    jwt: loadJwtSettings({
      jwtSecret: str(options, 'jwtSecret'),
      jwtPublicKey: str(options, 'jwtPublicKey'),
      jwksFile: str(options, 'jwksFile'),
      jwtAudience: str(options, 'jwtAudience'),
      jwtIssuer: str(options, 'jwtIssuer'),
      jwtLeeway: num(options, 'jwtLeeway', 0),
    }),
    testHooks: bool(options, 'testHooks', false),
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

/** Reads SHARDCAST_* variables into Options (flags given later override them). */
export function optionsFromEnv(env: NodeJS.ProcessEnv): Options {
  const out: Record<string, string> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const v = env[spec.env];
    if (v !== undefined && v !== '') out[key] = v;
  }
  return out as Options;
}

/**
 * Whether the options configure JWT verification of WebSocket connections. The JWT options
 * (--jwt-secret, --jwt-public-key, --jwks-file) belong to the authentication work; until
 * they exist this is false (an unknown option is refused before it is asked).
 */
export function jwtConfigured(options: Options): boolean {
  const o = options as Record<string, unknown>;
  return ['jwtSecret', 'jwtPublicKey', 'jwksFile'].some((k) => o[k] !== undefined && o[k] !== null && o[k] !== '');
}

/** What a server listening beyond loopback still needs: said as what to add. */
const WS_AUTH = 'JWT (--jwt-secret, --jwt-public-key or --jwks-file) or --allow-anonymous for WebSocket connections';

function closedByDefault(missing: readonly string[]): string {
  return `a server listening beyond loopback must be closed: add ${missing.join(', and ')}; or listen on a loopback address (127.0.0.0/8, ::1, localhost)`;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
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
