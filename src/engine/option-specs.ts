/**
 * Option specs — every server option in one table: its flag, its SHARDCAST_* variable, its
 * kind, range and help, and the Options type startServer() and the CLI accept. The CLI's
 * --help, the README's table and the validator (config.ts) all read this table.
 */
import { MAX_LEEWAY } from '../auth/jwt-settings.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

export type Kind = 'int' | 'size' | 'string' | 'bool' | 'patterns';

export interface Spec {
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
  /** The Redis of --redis-url is a Redis Cluster (the URL: its seed nodes, comma-separated). */
  redisCluster?: boolean | string;
  historySize?: number | string;
  historyTtl?: number | string;
  historyMaxBytes?: number | string;
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
  /** 'json' (one JSON object per line, the default) or 'pretty' (for a terminal). */
  logFormat?: string;
  /** A port of its own for /metrics, /api/stats and /readyz (0: any free port); they leave the public port. */
  adminPort?: number | string;
  /** Address of adminPort (loopback unless said otherwise). */
  adminHost?: string;
  /** 'on' or 'off': the live page at /dashboard (default: on when the address serving it is loopback). */
  dashboard?: string;
  jwtSecret?: string;
  jwtPublicKey?: string;
  jwksFile?: string;
  jwtAudience?: string;
  jwtIssuer?: string;
  jwtLeeway?: number | string;
  testHooks?: boolean | string;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

export const specs: { readonly [K in keyof Options]-?: Spec } = {
  host: { kind: 'string', flag: '--host', env: 'SHARDCAST_HOST', help: 'Address to listen on. Default 127.0.0.1; 0.0.0.0 when an API key is set. Beyond loopback the server refuses to start unless it has an API key and either JWT or --allow-anonymous (closed by default).' },
  port: { kind: 'int', flag: '--port', env: 'SHARDCAST_PORT', min: 0, max: 65535, help: 'TCP port for WebSocket (/ws) and HTTP (/api/*). 0 picks a free port. Default 8080.' },
  workers: { kind: 'int', flag: '--workers', env: 'SHARDCAST_WORKERS', min: 1, max: 256, help: 'Shard worker threads. Default: the number of CPU cores.' },
  shardYoungGenerationMb: { kind: 'int', flag: '--shard-young-generation-mb', env: 'SHARDCAST_SHARD_YOUNG_GENERATION_MB', min: 0, max: 1024, help: 'Each shard worker\'s V8 young generation in MiB (three semi-spaces\' worth): a connection burst then leaves less heap behind, for the same throughput (bench/RESULTS.md). 0 = V8\'s default (up to 48, grown under load); otherwise at least 3. Default 12.' },
  apiKey: { kind: 'string', flag: '--api-key', env: 'SHARDCAST_API_KEY', help: 'Bearer key for the HTTP API (/api/*; at least 8 characters, no spaces or commas); several comma-separated keys are all accepted (rotation). Without a key, the server listens on loopback only and the API is open to local callers.' },
  apiKeyFile: { kind: 'string', flag: '--api-key-file', env: 'SHARDCAST_API_KEY_FILE', help: 'File holding the HTTP API key(s), one per line (blank lines and lines starting with # ignored), read at start and again on SIGHUP, so that no key is on the command line. Adds to --api-key.' },
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
  redisCluster: { kind: 'bool', flag: '--redis-cluster', env: 'SHARDCAST_REDIS_CLUSTER', help: 'The Redis of --broker redis is a Redis Cluster (7+; sharded Pub/Sub): --redis-url then lists seed nodes, comma-separated (redis://host:port,redis://host2:port; one scheme and one set of credentials, no database number). Each channel lives on the node of its slot. Default off.' },
  historySize: { kind: 'int', flag: '--history-size', env: 'SHARDCAST_HISTORY_SIZE', min: 0, max: 1_000_000, help: 'Messages per channel kept so that a client reconnecting with "since" gets what it missed (the memory broker keeps them in memory; the Redis broker trims its history streams to about this many). 0 = no history (every recovery says recovered:false). Default 100.' },
  historyTtl: { kind: 'int', flag: '--history-ttl', env: 'SHARDCAST_HISTORY_TTL', min: 0, max: 31_536_000, help: 'Seconds a message stays in its channel\'s history (memory broker); 0 = no time limit. Default 300.' },
  historyMaxBytes: { kind: 'size', flag: '--history-max-bytes', env: 'SHARDCAST_HISTORY_MAX_BYTES', min: 0, max: 64 * 1024 * MiB, help: 'Bytes of history over all channels (memory broker: data plus 48 bytes per message and 288 per channel); past it the channel written least recently loses its oldest messages first. Default 32m.' },
  mergeMs: { kind: 'int', flag: '--merge-ms', env: 'SHARDCAST_MERGE_MS', min: 0, max: 1000, help: 'Milliseconds over which what a channel receives is merged into one frame (an array of messages), encoded once per channel per window: far fewer frames and system calls for at most this much added latency. 0 = every message at once. Default 0; 20 is the measured best for CPU (bench/RESULTS.md), not the default because acks follow their window, pacing a publisher that waits for each answer to one publish per window.' },
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
  logFormat: { kind: 'string', flag: '--log-format', env: 'SHARDCAST_LOG_FORMAT', help: 'json (one JSON object per line, for log collectors; the default) or pretty (one readable line per event, for a terminal).' },
  adminPort: { kind: 'int', flag: '--admin-port', env: 'SHARDCAST_ADMIN_PORT', min: 0, max: 65535, help: 'Serve /metrics, /api/stats and /readyz on this port (answered by the main thread) instead of the public one, where they then answer 404. 0 picks a free port. Default: none (they stay on --port).' },
  adminHost: { kind: 'string', flag: '--admin-host', env: 'SHARDCAST_ADMIN_HOST', help: 'Address of --admin-port. Default 127.0.0.1; beyond loopback it needs an API key (/api/stats asks for it, as on the public port).' },
  dashboard: { kind: 'string', flag: '--dashboard', env: 'SHARDCAST_DASHBOARD', help: 'on or off: the live operator page at /dashboard (connections, rates, latency, shards, busiest channels, a watch-and-publish panel; docs/operations.md). It is served on --admin-port when there is one, else on the public port; it asks for the API key as /api/stats does. Default: on when the address serving it is loopback, off beyond.' },
  jwtSecret: { kind: 'string', flag: '--jwt-secret', env: 'SHARDCAST_JWT_SECRET', help: 'Require a JWT on every WebSocket handshake, signed HS256/384/512 with this secret (at least 32 bytes). One key source only. Default: none.' },
  jwtPublicKey: { kind: 'string', flag: '--jwt-public-key', env: 'SHARDCAST_JWT_PUBLIC_KEY', help: 'Require a JWT on every WebSocket handshake, verified with the public key in this PEM file (RSA: RS*/PS*; EC: the ES* of its curve; Ed25519: EdDSA). Default: none.' },
  jwksFile: { kind: 'string', flag: '--jwks-file', env: 'SHARDCAST_JWKS_FILE', help: 'Require a JWT on every WebSocket handshake, verified with the key of its "kid" in this JSON Web Key Set file (public keys only). Default: none.' },
  jwtAudience: { kind: 'string', flag: '--jwt-audience', env: 'SHARDCAST_JWT_AUDIENCE', help: 'Tokens must carry this "aud". Default: not checked.' },
  jwtIssuer: { kind: 'string', flag: '--jwt-issuer', env: 'SHARDCAST_JWT_ISSUER', help: 'Tokens must carry this "iss". Default: not checked.' },
  jwtLeeway: { kind: 'int', flag: '--jwt-leeway', env: 'SHARDCAST_JWT_LEEWAY', min: 0, max: MAX_LEEWAY, help: `Seconds of clock skew allowed on a token's exp and nbf (0-${MAX_LEEWAY}). Default 0.` },
  testHooks: { kind: 'bool', flag: '--test-hooks', env: 'SHARDCAST_TEST_HOOKS', hidden: true, help: 'Test-only: allow injecting faults into shards.' },
};
