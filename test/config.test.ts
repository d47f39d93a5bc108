/**
 * Configuration: resolveConfig's defaults, accepted values and refusals (each a ConfigError
 * naming the option, the value and what is allowed), and the `shardcast` CLI run as a real
 * child process: --help, usage errors (exit 2), and `publish` through the IPC socket and the
 * HTTP API of a server started in this process.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { optionsFromEnv, resolveConfig, specs, type Options } from '../src/engine/config.js';
import { ConfigError } from '../src/protocol/errors.js';
import { startServer, type ShardcastServer } from '../src/engine/engine.js';

const KiB = 1024;
const MiB = 1024 * KiB;

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const PKG = fileURLToPath(new URL('../../package.json', import.meta.url));

// ------------------------------------------------------------------ resolveConfig

describe('resolveConfig', () => {
  test('defaults', () => {
    const c = resolveConfig({});
    assert.deepEqual({ ...c, source: undefined }, {
      host: '127.0.0.1',
      port: 8080,
      workers: availableParallelism(),
      shardYoungGenerationMb: 12,
      apiKeys: [],
      maxPayload: 64 * KiB,
      maxBackpressure: 1 * MiB,
      idleTimeout: 32,
      maxConnections: 100_000,
      maxConnectionsPerIp: 0,
      maxHandshakesPerIp: 0,
      handshakeBurst: 0,
      maxSubscriptions: 256,
      maxChannels: 1_000_000,
      channelTtl: 300_000,
      ringSize: 16 * MiB,
      ingressRingSize: 4 * MiB,
      ipcSocket: null,
      broker: 'memory',
      redisUrl: null,
      redisCluster: false,
      historySize: 100,
      historyTtl: 300,
      historyMaxBytes: 32 * 1024 * 1024,
      mergeMs: 0,
      mergeMaxBytes: 64 * KiB,
      conflate: [],
      clientPublish: ['*'],
      clientPublishRate: 100,
      clientPublishBurst: 200,
      allowAnonymous: true,
      anonymousChannels: ['*'],
      allowedOrigins: ['*'],
      tlsCert: null,
      tlsKey: null,
      tlsCa: null,
      shardStallTimeout: 3000,
      shutdownTimeout: 5000,
      logLevel: 'info',
      logFormat: 'json',
      adminPort: null,
      adminHost: '127.0.0.1',
      dashboard: true,
      jwt: null,
      testHooks: false,
      source: undefined,
    });
    assert.deepEqual(c.source, {});
  });

  test('broker: memory by default; redis with a default URL, or a redis:// / rediss:// URL with password and database', () => {
    assert.deepEqual([resolveConfig({ broker: 'redis' }).broker, resolveConfig({ broker: 'redis' }).redisUrl], ['redis', 'redis://127.0.0.1:6379']);
    const url = 'rediss://user:s%40cret@redis.internal:6380/2';
    assert.equal(resolveConfig({ broker: 'redis', redisUrl: url }).redisUrl, url);
    assert.equal(resolveConfig(optionsFromEnv({ SHARDCAST_BROKER: 'redis', SHARDCAST_REDIS_URL: 'redis://:pw@redis.internal' })).redisUrl, 'redis://:pw@redis.internal');
    // a Redis Cluster: seed nodes, comma-separated (spaces around commas dropped)
    const seeds = resolveConfig(optionsFromEnv({ SHARDCAST_BROKER: 'redis', SHARDCAST_REDIS_CLUSTER: 'true', SHARDCAST_REDIS_URL: 'redis://:pw@a:7000, redis://:pw@b:7001' }));
    assert.deepEqual([seeds.redisCluster, seeds.redisUrl], [true, 'redis://:pw@a:7000,redis://:pw@b:7001']);
  });

  test('typical values, as numbers and as strings (sizes with k/m suffixes)', () => {
    const c = resolveConfig({
      host: 'localhost',
      port: '0',
      workers: '3',
      shardYoungGenerationMb: '0',
      maxPayload: '64k',
      maxBackpressure: '1m',
      idleTimeout: 8,
      maxConnections: '10',
      maxSubscriptions: 1,
      ringSize: '1M',
      ingressRingSize: '512K',
      ipcSocket: '/tmp/x.sock',
      clientPublish: 'false',
      shutdownTimeout: '100',
      logLevel: 'silent',
      testHooks: 'yes',
    });
    assert.equal(c.host, 'localhost');
    assert.equal(c.port, 0);
    assert.equal(c.workers, 3);
    assert.equal(c.shardYoungGenerationMb, 0, "0: V8's default");
    assert.equal(c.maxPayload, 65536);
    assert.equal(c.maxBackpressure, 1048576);
    assert.equal(c.idleTimeout, 8);
    assert.equal(c.maxConnections, 10);
    assert.equal(c.maxSubscriptions, 1);
    assert.equal(c.ringSize, 1048576);
    assert.equal(c.ingressRingSize, 524288);
    assert.equal(c.ipcSocket, '/tmp/x.sock');
    assert.deepEqual(c.clientPublish, []);
    assert.equal(c.shutdownTimeout, 100);
    assert.equal(c.logLevel, 'silent');
    assert.equal(c.testHooks, true);
    // plain byte counts, bounds, and whitespace around numbers
    assert.equal(resolveConfig({ maxPayload: 128 }).maxPayload, 128);
    assert.equal(resolveConfig({ maxPayload: '16m', ringSize: '128m', ingressRingSize: '128m' }).maxPayload, 16 * MiB);
    assert.equal(resolveConfig({ port: 65535 }).port, 65535);
    assert.equal(resolveConfig({ port: ' 80 ' }).port, 80);
    assert.equal(resolveConfig({ ringSize: '1g' }).ringSize, 1024 * MiB);
    for (const [v, want] of [[true, ['*']], ['1', ['*']], ['true', ['*']], [false, []], ['0', []], ['no', []], ['chat:*, lobby', ['chat:*', 'lobby']], [['a', 'b*'], ['a', 'b*']]] as const) {
      assert.deepEqual(resolveConfig({ clientPublish: v }).clientPublish, want, `clientPublish ${String(v)}`);
    }
  });

  test('host: loopback without an API key; beyond it an API key and --allow-anonymous (or JWT); the API key picks 0.0.0.0 by default', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', '::1', 'localhost']) assert.equal(resolveConfig({ host }).host, host);
    assert.equal(resolveConfig({ apiKey: '12345678', allowAnonymous: true }).host, '0.0.0.0');
    assert.deepEqual(resolveConfig({ apiKey: '12345678', allowAnonymous: 'yes' }).apiKeys, ['12345678']);
    assert.equal(resolveConfig({ apiKey: '12345678', host: '127.0.0.1' }).host, '127.0.0.1');
    assert.equal(resolveConfig({ apiKey: '12345678', host: '192.168.1.7', allowAnonymous: true }).host, '192.168.1.7');
  });

  test('closed by default: anonymous connections read every channel on loopback and none beyond it unless --anonymous-channels says so', () => {
    const local = resolveConfig({});
    assert.equal(local.allowAnonymous, true);
    assert.deepEqual(local.anonymousChannels, ['*']);
    const open = resolveConfig({ host: '0.0.0.0', apiKey: '12345678', allowAnonymous: true });
    assert.equal(open.allowAnonymous, true);
    assert.deepEqual(open.anonymousChannels, []);
    assert.deepEqual(open.clientPublish, []);
    assert.deepEqual(resolveConfig({ host: '0.0.0.0', apiKey: '12345678', allowAnonymous: true, anonymousChannels: 'news:*, lobby' }).anonymousChannels, ['news:*', 'lobby']);
    assert.deepEqual(resolveConfig({ anonymousChannels: false }).anonymousChannels, []);
    assert.deepEqual(resolveConfig({ anonymousChannels: ['a', 'b*'] }).anonymousChannels, ['a', 'b*']);
  });

  test('allowed origins: any on loopback, none beyond it by default; exact origins or *', () => {
    assert.deepEqual(resolveConfig({}).allowedOrigins, ['*']);
    assert.deepEqual(resolveConfig({ host: '0.0.0.0', apiKey: '12345678', allowAnonymous: true }).allowedOrigins, []);
    assert.deepEqual(resolveConfig({ allowedOrigins: 'https://app.example.com, http://localhost:3000,https://app.example.com' }).allowedOrigins, ['https://app.example.com', 'http://localhost:3000']);
    assert.deepEqual(resolveConfig({ allowedOrigins: ['https://a.example:8443'] }).allowedOrigins, ['https://a.example:8443']);
    assert.deepEqual(resolveConfig({ host: '0.0.0.0', apiKey: '12345678', allowAnonymous: true, allowedOrigins: '*' }).allowedOrigins, ['*']);
  });

  test('the refusal to listen beyond loopback says exactly what to add', () => {
    const message = (o: Options): string => {
      try {
        resolveConfig(o);
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.message;
      }
      throw new Error(`${JSON.stringify(o)} was accepted`);
    };
    // nothing: both the API key and the WebSocket decision are missing
    const bare = message({ host: '0.0.0.0' });
    assert.match(bare, /^invalid host: "0\.0\.0\.0" \(a server listening beyond loopback must be closed: add --api-key KEY \(or --api-key-file FILE\) for the HTTP API, and JWT \(--jwt-secret, --jwt-public-key or --jwks-file\) or --allow-anonymous for WebSocket connections; or listen on a loopback address/);
    // an API key alone: only the WebSocket decision is missing
    const keyOnly = message({ apiKey: '12345678' });
    assert.match(keyOnly, /^invalid host: "0\.0\.0\.0" \(a server listening beyond loopback must be closed: add JWT \(--jwt-secret, --jwt-public-key or --jwks-file\) or --allow-anonymous for WebSocket connections;/);
    assert.ok(!keyOnly.includes('--api-key KEY'), keyOnly);
    // --allow-anonymous alone: only the API key is missing
    const anonOnly = message({ host: '10.1.2.3', allowAnonymous: true });
    assert.match(anonOnly, /add --api-key KEY \(or --api-key-file FILE\) for the HTTP API;/);
    assert.ok(!anonOnly.includes('--allow-anonymous'), anonOnly);
    // without JWT, refusing anonymous connections would admit nobody
    assert.throws(() => resolveConfig({ allowAnonymous: false }), (err: unknown) => err instanceof ConfigError && err.option === 'allowAnonymous' && /without JWT every connection is anonymous/.test(err.message));
  });

  test('per-address limits are off by default; the handshake burst defaults to two seconds of the rate', () => {
    assert.equal(resolveConfig({ maxConnectionsPerIp: '20' }).maxConnectionsPerIp, 20);
    assert.equal(resolveConfig({ maxHandshakesPerIp: '5' }).handshakeBurst, 10);
    const c = resolveConfig({ maxHandshakesPerIp: 5, handshakeBurst: '1' });
    assert.equal(c.maxHandshakesPerIp, 5);
    assert.equal(c.handshakeBurst, 1);
    assert.equal(resolveConfig({ maxHandshakesPerIp: 10_000 }).handshakeBurst, 20_000);
  });

  test('the result is frozen', () => {
    const c = resolveConfig({ port: 0 });
    assert.ok(Object.isFrozen(c));
    assert.throws(() => {
      (c as { port: number }).port = 1;
    }, TypeError);
    assert.equal(c.port, 0);
  });

  interface Bad {
    name: string;
    options: Options;
    option: string;
    /** What the message must quote as the value (default: JSON of the option's value). */
    shows?: string;
    /** Fragments of the "allowed" part the message must contain. */
    allowed: string[];
  }
  const bad: Bad[] = [
    // out of range
    { name: 'port above 65535', options: { port: 99999 }, option: 'port', allowed: ['0 to 65535'] },
    { name: 'port below 0', options: { port: -1 }, option: 'port', allowed: ['0 to 65535'] },
    { name: 'port "-1"', options: { port: '-1' }, option: 'port', allowed: ['an integer', '0 to 65535'] },
    { name: 'workers 0', options: { workers: 0 }, option: 'workers', allowed: ['1 to 256'] },
    { name: 'workers 257', options: { workers: '257' }, option: 'workers', allowed: ['1 to 256'] },
    { name: 'shardYoungGenerationMb 2', options: { shardYoungGenerationMb: 2 }, option: 'shardYoungGenerationMb', allowed: ["0 (V8's default) or 3 to 1024"] },
    { name: 'shardYoungGenerationMb above 1024', options: { shardYoungGenerationMb: '1025' }, option: 'shardYoungGenerationMb', allowed: ['0 to 1024'] },
    { name: 'maxPayload below 128', options: { maxPayload: 127 }, option: 'maxPayload', allowed: ['a byte size', '128 to 16777216'] },
    { name: 'maxPayload above 16m', options: { maxPayload: '17m' }, option: 'maxPayload', allowed: ['128 to 16777216'] },
    { name: 'maxBackpressure below 16k', options: { maxBackpressure: '8k' }, option: 'maxBackpressure', allowed: ['16384 to'] },
    { name: 'idleTimeout below 8', options: { idleTimeout: 7 }, option: 'idleTimeout', allowed: ['8 to 960'] },
    { name: 'maxConnections 0', options: { maxConnections: 0 }, option: 'maxConnections', allowed: ['1 to 10000000'] },
    { name: 'maxConnectionsPerIp -1', options: { maxConnectionsPerIp: -1 }, option: 'maxConnectionsPerIp', allowed: ['0 to 10000000'] },
    { name: 'maxHandshakesPerIp above 10000', options: { maxHandshakesPerIp: '10001' }, option: 'maxHandshakesPerIp', allowed: ['0 to 10000'] },
    { name: 'handshakeBurst 0', options: { maxHandshakesPerIp: 5, handshakeBurst: 0 }, option: 'handshakeBurst', allowed: ['1 to 100000'] },
    { name: 'handshakeBurst without a handshake rate', options: { handshakeBurst: '10' }, option: 'handshakeBurst', allowed: ['only with maxHandshakesPerIp'] },
    { name: 'maxSubscriptions above max', options: { maxSubscriptions: 100_001 }, option: 'maxSubscriptions', allowed: ['1 to 100000'] },
    { name: 'shutdownTimeout below 100', options: { shutdownTimeout: 99 }, option: 'shutdownTimeout', allowed: ['100 to 600000'] },
    { name: 'ringSize above 1g', options: { ringSize: '2g' }, option: 'ringSize', allowed: ['to 1073741824'] },
    { name: 'ingressRingSize below 64k', options: { ingressRingSize: '32k' }, option: 'ingressRingSize', allowed: ['65536 to'] },
    // not an integer
    { name: 'port 1.5', options: { port: 1.5 }, option: 'port', allowed: ['an integer'] },
    { name: 'port NaN', options: { port: Number.NaN }, option: 'port', shows: 'NaN', allowed: ['an integer'] },
    { name: 'port "abc"', options: { port: 'abc' }, option: 'port', allowed: ['an integer'] },
    { name: 'port "0x50"', options: { port: '0x50' }, option: 'port', allowed: ['an integer'] },
    { name: 'port "8k" (no size suffix on an integer)', options: { port: '8k' }, option: 'port', allowed: ['an integer'] },
    { name: 'port true', options: { port: true as unknown as number }, option: 'port', allowed: ['an integer'] },
    { name: 'workers "2.5"', options: { workers: '2.5' }, option: 'workers', allowed: ['an integer'] },
    { name: 'maxPayload "1.5k"', options: { maxPayload: '1.5k' }, option: 'maxPayload', allowed: ['a byte size (e.g. 65536, 64k, 1m)'] },
    { name: 'maxPayload "64kb"', options: { maxPayload: '64kb' }, option: 'maxPayload', allowed: ['a byte size'] },
    { name: 'maxPayload "" ', options: { maxPayload: '' }, option: 'maxPayload', allowed: ['a byte size'] },
    // power of two
    { name: 'ringSize not a power of two', options: { ringSize: 300_000 }, option: 'ringSize', allowed: ['a power of two'] },
    { name: 'ringSize "768k"', options: { ringSize: '768k' }, option: 'ringSize', allowed: ['a power of two'] },
    { name: 'ingressRingSize "96k"', options: { ingressRingSize: '96k' }, option: 'ingressRingSize', allowed: ['a power of two'] },
    // ring smaller than 4 × (maxPayload + 1 KiB)
    {
      name: 'ingress ring too small for maxPayload',
      options: { maxPayload: '64k', ingressRingSize: '128k' },
      option: 'ingressRingSize',
      shows: '131072',
      allowed: [`${4 * (64 * KiB + KiB)}`, 'maxPayload 65536'],
    },
    {
      name: 'broadcast ring too small for maxPayload',
      options: { maxPayload: '1m', ringSize: '4m', ingressRingSize: '8m' },
      option: 'ringSize',
      shows: '4194304',
      allowed: [`${4 * (MiB + KiB)}`, 'maxPayload 1048576'],
    },
    {
      // the help text says "at least 4 × max-payload"; the rule is 4 × (maxPayload + 1 KiB),
      // so --max-payload 1m with the default 4m ingress ring does not start
      name: 'maxPayload 1m with the default ingress ring',
      options: { maxPayload: '1m' },
      option: 'ingressRingSize',
      shows: '4194304',
      allowed: [`${4 * (MiB + KiB)}`],
    },
    // strings, booleans and log level
    { name: 'bad logLevel', options: { logLevel: 'verbose' }, option: 'logLevel', allowed: ['debug, info, warn, error, silent'] },
    { name: 'logLevel is case-sensitive', options: { logLevel: 'INFO' }, option: 'logLevel', allowed: ['one of'] },
    { name: 'empty host', options: { host: '' }, option: 'host', allowed: ['a non-empty string'] },
    { name: 'empty ipcSocket', options: { ipcSocket: '' }, option: 'ipcSocket', allowed: ['a non-empty string'] },
    { name: 'broker kafka', options: { broker: 'kafka' }, option: 'broker', allowed: ['one of memory, redis'] },
    { name: 'redisUrl with the memory broker', options: { redisUrl: 'redis://127.0.0.1:6379' }, option: 'redisUrl', allowed: ['only with broker redis'] },
    { name: 'redisUrl not a URL', options: { broker: 'redis', redisUrl: '127.0.0.1:6379' }, option: 'redisUrl', allowed: ['a URL', 'rediss://'] },
    { name: 'redisUrl http://', options: { broker: 'redis', redisUrl: 'http://127.0.0.1:6379' }, option: 'redisUrl', allowed: ['a redis:// or rediss:// (TLS) URL'] },
    { name: 'redisUrl with a path that is no database', options: { broker: 'redis', redisUrl: 'redis://127.0.0.1:6379/db0' }, option: 'redisUrl', allowed: ['a database number'] },
    { name: 'several redisUrls without --redis-cluster', options: { broker: 'redis', redisUrl: 'redis://a:7000,redis://b:7000' }, option: 'redisUrl', allowed: ['add --redis-cluster'] },
    { name: 'redisCluster with the memory broker', options: { redisCluster: true }, option: 'redisCluster', allowed: ['only with broker redis'] },
    { name: 'redisCluster with a database number', options: { broker: 'redis', redisCluster: true, redisUrl: 'redis://a:7000/2' }, option: 'redisUrl', allowed: ['no database number with --redis-cluster'] },
    { name: 'redisCluster seeds with two sets of credentials', options: { broker: 'redis', redisCluster: true, redisUrl: 'redis://:pw@a:7000,redis://b:7000' }, option: 'redisUrl', shows: '"redis://***@a:7000,redis://b:7000"', allowed: ['one scheme and one set of credentials'] },
    { name: 'redisCluster seed not a URL', options: { broker: 'redis', redisCluster: true, redisUrl: 'redis://a:7000,b:7000' }, option: 'redisUrl', shows: '"b:7000"', allowed: ['a redis:// or rediss:// (TLS) URL'] },
    { name: 'a bad redisUrl is shown without its password', options: { broker: 'redis', redisUrl: 'redis://u:hunter2@127.0.0.1/x' }, option: 'redisUrl', shows: '"redis://***@127.0.0.1/x"', allowed: ['a database number'] },
    { name: 'clientPublish with a * inside a pattern', options: { clientPublish: 'chat:*,a*b' }, option: 'clientPublish', allowed: ['pattern "a*b"', 'prefix ending in *'] },
    { name: 'clientPublish with a space in a name', options: { clientPublish: 'my room' }, option: 'clientPublish', allowed: ['pattern "my room"'] },
    { name: 'clientPublish 42 (a number)', options: { clientPublish: 42 as unknown as string }, option: 'clientPublish', shows: '42', allowed: ['channel patterns'] },
    { name: 'clientPublishRate -1', options: { clientPublishRate: -1 }, option: 'clientPublishRate', shows: '-1', allowed: ['from 0 to 1000000'] },
    { name: 'clientPublishBurst 0', options: { clientPublishBurst: 0 }, option: 'clientPublishBurst', shows: '0', allowed: ['from 1 to 1000000'] },
    { name: 'shardStallTimeout 50 (too short to tell a stall from a busy moment)', options: { shardStallTimeout: 50 }, option: 'shardStallTimeout', shows: '50', allowed: ['0 (never) or 100 to 600000'] },
    { name: 'testHooks 1 (a number)', options: { testHooks: 1 as unknown as boolean }, option: 'testHooks', allowed: ['true or false'] },
    // unknown option key
    { name: 'unknown option', options: { prot: 80 } as Options, option: 'prot', shows: '80', allowed: ['unknown option', 'port', 'maxPayload'] },
    // API key and host
    { name: 'short apiKey (the key itself is not shown)', options: { apiKey: 'short' }, option: 'apiKey', shows: '"***"', allowed: ['at least 8 characters'] },
    { name: 'non-loopback host without apiKey', options: { host: '0.0.0.0' }, option: 'host', allowed: ['loopback', '--api-key', '--allow-anonymous'] },
    { name: 'non-loopback host with an apiKey but neither JWT nor allowAnonymous', options: { host: '0.0.0.0', apiKey: '12345678' }, option: 'host', allowed: ['--jwt-secret', '--allow-anonymous', 'loopback'] },
    { name: 'anonymousChannels with a * inside a pattern', options: { anonymousChannels: 'news:*,a*b' }, option: 'anonymousChannels', allowed: ['pattern "a*b"'] },
    { name: 'allowedOrigins with a path', options: { allowedOrigins: 'https://app.example.com/chat' }, option: 'allowedOrigins', allowed: ['not an exact origin', 'https://app.example.com'] },
    { name: 'allowedOrigins with a trailing slash', options: { allowedOrigins: 'https://a.example/' }, option: 'allowedOrigins', allowed: ['without path or trailing slash'] },
    { name: 'allowedOrigins in upper case', options: { allowedOrigins: 'https://App.example' }, option: 'allowedOrigins', allowed: ['in lower case'] },
    { name: 'allowedOrigins without a scheme', options: { allowedOrigins: 'app.example.com' }, option: 'allowedOrigins', allowed: ['scheme://host[:port]'] },
    { name: 'allowedOrigins ftp:', options: { allowedOrigins: 'ftp://files.example' }, option: 'allowedOrigins', allowed: ['not an exact origin'] },
    { name: 'allowedOrigins empty list', options: { allowedOrigins: ' , ' }, option: 'allowedOrigins', allowed: ['exact origins, comma-separated'] },
    { name: 'allowAnonymous "maybe"', options: { allowAnonymous: 'maybe' }, option: 'allowAnonymous', allowed: ['true or false'] },
    { name: 'LAN host without apiKey', options: { host: '192.168.1.7' }, option: 'host', allowed: ['loopback'] },
    { name: '"127.1" is not accepted as loopback', options: { host: '127.1' }, option: 'host', allowed: ['loopback'] },
  ];

  for (const b of bad) {
    test(`rejects ${b.name}`, () => {
      const raw = (b.options as Record<string, unknown>)[b.option];
      const shows = b.shows ?? JSON.stringify(raw);
      assert.throws(
        () => resolveConfig(b.options),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
          assert.equal(err.option, b.option);
          assert.match(err.message, new RegExp(`^invalid ${b.option}: `), err.message);
          assert.ok(err.message.includes(shows), `message shows the value ${shows}: ${err.message}`);
          for (const a of b.allowed) assert.ok(err.message.includes(a), `message says what is allowed (${a}): ${err.message}`);
          assert.ok(!err.message.includes('hunter2'), 'no password in the message');
          return true;
        },
      );
    });
  }

  test('the short API key does not leak into the message', () => {
    assert.throws(() => resolveConfig({ apiKey: 'sekrit1' }), (err: Error) => !err.message.includes('sekrit1'));
  });

  test('rejects option names inherited from Object.prototype', () => {
    for (const key of ['toString', 'constructor', 'hasOwnProperty']) {
      assert.throws(() => resolveConfig({ [key]: 1 } as Options), ConfigError, key);
    }
    assert.throws(() => resolveConfig(JSON.parse('{"__proto__":1}') as Options), ConfigError, '__proto__');
  });
});

// ------------------------------------------------------------------ CLI

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();

/** An environment without any SHARDCAST_* variable (or the test runner's own). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('SHARDCAST_') && k !== 'NODE_TEST_CONTEXT' && k !== 'NODE_OPTIONS') env[k] = v;
  }
  return { ...env, ...extra };
}

/** Runs the CLI asynchronously (the in-process server must keep serving meanwhile). */
function cli(args: string[], extraEnv: Record<string, string> = {}, timeoutMs = 20_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: cleanEnv(extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      children.delete(child);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

after(() => {
  for (const c of children) c.kill('SIGKILL');
});

describe('shardcast CLI', { timeout: 60_000 }, () => {
  test('--help exits 0 and lists every non-hidden option flag and variable', async () => {
    const [r, serveHelp, bare] = await Promise.all([cli(['--help']), cli(['serve', '--help']), cli([])]);
    assert.equal(r.code, 0, r.stderr);
    for (const [key, s] of Object.entries(specs)) {
      if (s.hidden) {
        assert.ok(!r.stdout.includes(s.flag), `hidden ${key} flag not listed`);
        assert.ok(!r.stdout.includes(s.env), `hidden ${key} variable not listed`);
        continue;
      }
      assert.ok(r.stdout.includes(s.flag), `${key}: ${s.flag} listed`);
      assert.ok(r.stdout.includes(s.env), `${key}: ${s.env} listed`);
      if (s.kind === 'bool') assert.ok(r.stdout.includes(`--no-${s.flag.slice(2)}`), `${key}: --no- form listed`);
    }
    assert.match(r.stdout, /shardcast serve/);
    assert.match(r.stdout, /shardcast publish/);
    // the same text from `serve --help`, and with no command at all
    assert.equal(serveHelp.code, 0);
    assert.equal(serveHelp.stdout, r.stdout);
    assert.equal(bare.code, 0);
    assert.equal(bare.stdout, r.stdout);
  });

  test('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(PKG, 'utf8')) as { version: string };
    const r = await cli(['--version']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${pkg.version}\n`);
  });

  test('serve --bogus exits 2 naming the flag', async () => {
    const r = await cli(['serve', '--bogus']);
    assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr, /--bogus/);
    assert.equal(r.stdout, '');
  });

  test('serve --port 99999 exits 2 with a message naming port', async () => {
    const r = await cli(['serve', '--port', '99999']);
    assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr, /invalid port: "99999" \(an integer from 0 to 65535\)/);
  });

  test('SHARDCAST_WORKERS=abc serve exits 2 naming workers and the value', async () => {
    const r = await cli(['serve', '--port', '0', '--log-level', 'silent'], { SHARDCAST_WORKERS: 'abc' });
    assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr, /invalid workers: "abc"/);
    assert.match(r.stderr, /an integer from 1 to 256/);
  });

  test('other usage errors exit 2', async () => {
    const cases: Array<{ args: string[]; env?: Record<string, string>; stderr: RegExp }> = [
      { args: ['frobnicate'], stderr: /unknown command "frobnicate"/ },
      { args: ['serve', 'extra'], stderr: /serve takes no arguments/ },
      { args: ['serve', '--client-publish', 'chat:*', '--no-client-publish'], stderr: /--client-publish or --no-client-publish/ },
      { args: ['serve', '--port', '0', '--host', '0.0.0.0'], stderr: /invalid host: "0.0.0.0"/ },
      { args: ['serve', '--port', '0', '--api-key', '12345678'], stderr: /invalid host: "0\.0\.0\.0" \(a server listening beyond loopback must be closed: add JWT .* or --allow-anonymous for WebSocket connections; or listen on a loopback address/ },
      { args: ['serve', '--port', '0', '--host', '0.0.0.0', '--allow-anonymous'], stderr: /add --api-key KEY \(or --api-key-file FILE\)/ },
      { args: ['serve', '--port', '0', '--no-allow-anonymous'], stderr: /invalid allowAnonymous: false/ },
      { args: ['serve', '--port', '0'], env: { SHARDCAST_LOG_LEVEL: 'loud' }, stderr: /invalid logLevel: "loud"/ },
      { args: ['serve', '--port', '0', '--max-payload', '1m'], stderr: /invalid ingressRingSize/ },
      { args: ['publish', 'only-a-channel'], stderr: /CHANNEL and DATA/ },
      { args: ['publish', 'room', '1'], stderr: /--ipc-socket PATH or --url URL/ },
      { args: ['publish', '--ipc-socket', '/x', '--url', 'http://127.0.0.1:1', 'room', '1'], stderr: /not both/ },
      { args: ['publish', '--nope', 'room', '1'], stderr: /--nope/ },
    ];
    const runs = await Promise.all(cases.map((c) => cli(c.args, c.env)));
    cases.forEach((c, i) => {
      const r = runs[i]!;
      assert.equal(r.code, 2, `${c.args.join(' ')}: exit code; stderr: ${r.stderr}`);
      assert.match(r.stderr, c.stderr, c.args.join(' '));
    });
  });

  test('publish with DATA that is not JSON exits 2 (before connecting anywhere)', async () => {
    const r = await cli(['publish', '--ipc-socket', join(tmpdir(), `shardcast-none-${randomUUID()}.sock`), 'room', 'not json']);
    assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr, /DATA must be JSON/);
    assert.match(r.stderr, /"not json"/, 'suggests the quoted form');
    const viaUrl = await cli(['publish', '--url', 'http://127.0.0.1:1', 'room', '{oops']);
    assert.equal(viaUrl.code, 2);
  });

  test('publish to an IPC socket that does not exist exits 1', async () => {
    const r = await cli(['publish', '--ipc-socket', join(tmpdir(), `shardcast-none-${randomUUID()}.sock`), 'room', '1']);
    assert.equal(r.code, 1, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr, /ENOENT/);
  });

  describe('against a running server', () => {
    const sock = join(tmpdir(), `shardcast-cfg-${process.pid}-${randomUUID().slice(0, 8)}.sock`);
    let server: ShardcastServer | null = null;
    const start = async (): Promise<ShardcastServer> => (server ??= await startServer({ port: 0, workers: 1, logLevel: 'silent', ipcSocket: sock }));
    after(async () => {
      await server?.close();
      rmSync(sock, { force: true });
    });

    test('publish --ipc-socket prints {"channel":…,"seq":1}', async () => {
      const s = await start();
      const r = await cli(['publish', '--ipc-socket', sock, 'cli-room', '{"score":3}']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { channel: 'cli-room', seq: 1 });
      assert.equal(r.stdout.trimEnd(), '{"channel":"cli-room","seq":1}');
      const again = await cli(['publish', 'cli-room', '"text"'], { SHARDCAST_IPC_SOCKET: sock });
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(JSON.parse(again.stdout), { channel: 'cli-room', seq: 2 });
      assert.equal(s.stats().main.ipcPublishes, 2);
    });

    test('publish --url prints the HTTP answer; a refusal exits 1', async () => {
      const s = await start();
      const r = await cli(['publish', '--url', `http://127.0.0.1:${s.port}`, 'cli-http', '[1,2]']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { seq: 1 });
      const bad = await cli(['publish', '--url', `http://127.0.0.1:${s.port}`, 'bad channel', '1']);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /HTTP 400/);
      assert.match(bad.stderr, /bad_channel/);
    });

    test('publish --ipc-socket with a bad channel exits 1 with the code', async () => {
      await start();
      const r = await cli(['publish', '--ipc-socket', sock, 'no spaces', '1']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /bad_channel/);
    });
  });
});

test("the README's configuration table lists every option with its flag and variable, and no other", () => {
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  const rows = readme.split('\n').filter((l) => /^\| `--[a-z-]+`/.test(l));
  const visible = Object.values(specs).filter((s) => !s.hidden);
  for (const s of visible) {
    const row = rows.find((r) => r.startsWith(`| \`${s.flag}\``));
    assert.ok(row, `README lists ${s.flag}`);
    assert.ok(row.includes(`\`${s.env}\``), `README's ${s.flag} row names ${s.env}`);
  }
  const flags = new Set(visible.map((s) => s.flag));
  for (const r of rows) assert.ok(flags.has(/^\| `(--[a-z-]+)`/.exec(r)![1]!), `README row ${r.slice(0, 40)}… is an option`);
});
