/**
 * JWT on the handshake: tokens minted here with jose, a real two-shard server on loopback, real
 * clients. Every bad token is answered at the upgrade (HTTP 401, code unauthorized, a stable
 * reason) without a WebSocket and without harm to the server; a good token's claims decide
 * what the connection may subscribe and publish to (`{sub}` patterns included); a token that
 * expires while connected closes the connection with 4003 unless it was refreshed in time.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT, UnsecuredJWT, exportJWK, exportPKCS8, exportSPKI, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import WebSocket from 'ws';
import { CloseCode, ConfigError, ErrorCode, resolveConfig, shouldReconnect, startServer, type ShardcastServer } from '../src/index.js';
import { runBench } from '../src/bench/run.js';
import { BenchUsageError, resolveBenchOptions } from '../src/bench/options.js';
import { TestClient } from './helpers/client.js';
import { sleep } from './helpers/wait.js';

const AUD = 'shardcast-test';
const ISS = 'https://issuer.test';
const nowS = (): number => Math.floor(Date.now() / 1000);

interface Refused {
  status: number;
  body: string;
}

/** Tries an upgrade that should be refused: its HTTP status and body (or status 0 if the socket was cut). */
function refusedUpgrade(port: number, opts: { query?: string; headers?: Record<string, string>; protocols?: string[] } = {}): Promise<Refused> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws${opts.query ?? ''}`, opts.protocols ?? [], { perMessageDeflate: false, headers: opts.headers ?? {}, maxPayload: 1024 });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('upgrade was accepted'));
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += String(d)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (err) => {
      if (/unexpected|Unexpected/.test(String(err))) return;
      resolve({ status: 0, body: String(err) });
    });
  });
}

function reasonOf(r: Refused): string {
  const v = JSON.parse(r.body) as { error: { code: string; reason: string } };
  assert.equal(v.error.code, ErrorCode.Unauthorized);
  return v.error.reason;
}

function healthz(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('JWT on the handshake (RS256 public key, audience and issuer)', () => {
  let server: ShardcastServer;
  let dir: string;
  let pubPem: string;
  let key: CryptoKey;
  let otherKey: CryptoKey;
  const opened: TestClient[] = [];

  const mint = (claims: JWTPayload & { channels?: string[]; publish?: string[] }, o: { sub?: string; exp?: number; aud?: string; iss?: string; nbf?: number; signWith?: CryptoKey } = {}): Promise<string> => {
    const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).setSubject(o.sub ?? 'alice').setAudience(o.aud ?? AUD).setIssuer(o.iss ?? ISS).setIssuedAt().setExpirationTime(o.exp ?? nowS() + 3600);
    if (o.nbf !== undefined) jwt.setNotBefore(o.nbf);
    return jwt.sign(o.signWith ?? key);
  };
  const connect = async (token: string): Promise<TestClient> => {
    const c = await TestClient.connect(server.port, `/ws?token=${token}`);
    opened.push(c);
    return c;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shardcast-jwt-'));
    const pair = await generateKeyPair('RS256', { extractable: true });
    key = pair.privateKey;
    otherKey = (await generateKeyPair('RS256')).privateKey;
    pubPem = await exportSPKI(pair.publicKey);
    writeFileSync(join(dir, 'public.pem'), pubPem);
    server = await startServer({ port: 0, workers: 2, logLevel: 'silent', jwtPublicKey: join(dir, 'public.pem'), jwtAudience: AUD, jwtIssuer: ISS });
  });

  after(async () => {
    for (const c of opened) c.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens a connection for a valid token, and its welcome frame names the user', async () => {
    const c = await connect(await mint({ channels: ['news:*'] }, { sub: 'alice' }));
    assert.equal(c.inbox.find((m) => m.type === 'welcome')?.['user'], 'alice');
  });

  it('answers every bad token at the upgrade with 401 and its reason, counted, and stays up', async () => {
    const t = nowS();
    const hsConfusion = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').setAudience(AUD).setIssuer(ISS).setExpirationTime(t + 3600).sign(new TextEncoder().encode(pubPem));
    const cases: Array<[string, string | null, string]> = [
      ['no token', null, 'missing'],
      ['expired', await mint({}, { exp: t - 120 }), 'expired'],
      ['not yet valid', await mint({}, { nbf: t + 3600 }), 'not_yet_valid'],
      ['signed with another key', await mint({}, { signWith: otherKey }), 'signature'],
      ['for another audience', await mint({}, { aud: 'someone-else' }), 'audience'],
      ['from another issuer', await mint({}, { iss: 'https://evil.test' }), 'issuer'],
      ['alg none', new UnsecuredJWT({ sub: 'mallory', aud: AUD, iss: ISS, exp: t + 3600 }).encode(), 'algorithm'],
      ['HS256 signed with the public key as secret', hsConfusion, 'algorithm'],
      ['garbage', 'not-a-token', 'malformed'],
      ['a 3-part token of garbage', 'aaaa.bbbb.cccc', 'malformed'],
    ];
    const before = server.stats().totals;
    for (const [what, token, reason] of cases) {
      const r = await refusedUpgrade(server.port, token === null ? {} : { query: `?token=${token}` });
      assert.equal(r.status, 401, what);
      assert.equal(reasonOf(r), reason, what);
    }
    const after = server.stats().totals;
    const delta = (k: keyof typeof after): number => after[k] - before[k];
    assert.equal(delta('authRefusedMissing'), 1);
    assert.equal(delta('authRefusedExpired'), 1);
    assert.equal(delta('authRefusedNotYetValid'), 1);
    assert.equal(delta('authRefusedSignature'), 1);
    assert.equal(delta('authRefusedAudience'), 1);
    assert.equal(delta('authRefusedIssuer'), 1);
    assert.equal(delta('authRefusedAlgorithm'), 2);
    assert.equal(delta('authRefusedMalformed'), 2);
    assert.equal(delta('tokenCacheHits'), 0);
    assert.equal(delta('connectionsOpened'), 0, 'no refused token opened a connection');
    // a token over 8 KiB is refused before any crypto, whatever carries it; past uWS's own
    // limit on the request head (about 64 KiB in 20.30; 16 KiB in 20.57, as src/transport/uws.ts
    // sets it), uWS cuts the connection (20.30) or answers 431 (20.57) before the handler
    // runs — no WebSocket either way
    const long = await refusedUpgrade(server.port, { headers: { authorization: `Bearer ${'a'.repeat(9000)}.b.c` } });
    assert.equal(long.status, 401);
    assert.equal(reasonOf(long), 'malformed');
    assert.match(long.body, /longer than 8192 bytes/);
    // 60 KB is just under 20.30's limit: depending on how the request head arrives in TCP
    // segments, uWS may already cut it (status 0); either way there is no WebSocket
    const huge = await refusedUpgrade(server.port, { query: `?token=${'a'.repeat(60 * 1024)}.b.c` });
    assert.ok(huge.status === 0 || huge.status === 431 || reasonOf(huge) === 'malformed', `60 KB query: ${huge.status}`);
    const hugeQuery = await refusedUpgrade(server.port, { query: `?token=${'a'.repeat(64 * 1024)}.b.c` });
    assert.ok(hugeQuery.status === 0 || hugeQuery.status === 431 || reasonOf(hugeQuery) === 'malformed', `64 KB query: ${hugeQuery.status}`);
    const hugeHeader = await refusedUpgrade(server.port, { headers: { authorization: `Bearer ${'a'.repeat(64 * 1024)}.b.c` } });
    assert.ok(hugeHeader.status === 0 || hugeHeader.status === 431 || reasonOf(hugeHeader) === 'malformed', `64 KB header: ${hugeHeader.status}`);
    assert.equal(await healthz(server.port), 200);
    assert.equal(server.stats().liveShards, 2);
    await connect(await mint({}));
  });

  it('takes the token from ?token=, Authorization: Bearer, or a token.<jwt> subprotocol, and never echoes the token', async () => {
    const token = await mint({ channels: ['a'] }, { sub: 'carol' });
    const byQuery = await connect(token);
    const byHeader = await TestClient.connectWith(server.port, { headers: { authorization: `Bearer ${token}` } });
    const byProtocol = await TestClient.connectWith(server.port, { protocols: ['shardcast.v1', `token.${token}`] });
    opened.push(byHeader, byProtocol);
    for (const c of [byQuery, byHeader, byProtocol]) assert.equal(c.welcome && c.inbox.find((m) => m.type === 'welcome')?.['user'], 'carol');
    assert.equal(byProtocol.ws.protocol, 'shardcast.v1');
    const r = await refusedUpgrade(server.port, { protocols: ['shardcast.v1', 'token.aaaa.bbbb.cccc'] });
    assert.equal(reasonOf(r), 'malformed');
  });

  it('allows subscribe and publish only inside the token claims, {sub} standing for the user', async () => {
    const c = await connect(await mint({ channels: ['news:*', 'user:{sub}:*'], publish: ['chat:{sub}'] }, { sub: 'alice' }));
    const before = server.stats().totals;
    for (const ch of ['news:1', 'user:alice:inbox']) await c.subscribe(ch);
    for (const ch of ['user:bob:inbox', 'secret', 'news']) {
      const from = c.inbox.length;
      c.send({ type: 'subscribe', channel: ch });
      const m = await c.waitFor((f) => f.type === 'error' || (f.type === 'subscribed' && f['channel'] === ch), 5000, from);
      assert.equal(m['code'], ErrorCode.Forbidden, ch);
    }
    c.send({ type: 'publish', channel: 'chat:alice', data: 1, id: 'ok' });
    c.send({ type: 'publish', channel: 'chat:bob', data: 2, id: 'no' });
    assert.equal((await c.waitFor((f) => f['id'] === 'ok' || f['ref'] === 'ok')).type, 'ack');
    const no = await c.waitFor((f) => f['ref'] === 'no');
    assert.equal(no['code'], ErrorCode.Forbidden);
    const after = server.stats().totals;
    assert.equal(after.forbiddenSubscribe - before.forbiddenSubscribe, 3);
    assert.equal(after.forbiddenPublish - before.forbiddenPublish, 1);
    assert.equal(c.closed, null, 'the connection stays');
    // no claim: nothing; a sub that is not channel characters makes {sub} patterns match nothing
    const none = await connect(await mint({}, { sub: 'dave' }));
    none.send({ type: 'publish', channel: 'chat:dave', data: 1, id: 'x' });
    assert.equal((await none.waitFor((f) => f['ref'] === 'x'))['code'], ErrorCode.Forbidden);
    const star = await connect(await mint({ channels: ['user:{sub}'] }, { sub: '*' }));
    star.send({ type: 'subscribe', channel: 'user:x' });
    assert.equal((await star.waitFor((f) => f.type === 'error' || (f.type === 'subscribed' && f['channel'] === 'user:x')))['code'], ErrorCode.Forbidden);
  });

  it('closes a connection whose token expires with 4003, a reconnect code', async () => {
    const c = await connect(await mint({}, { exp: nowS() + 2 }));
    const closed = await c.waitClosed(6000);
    assert.equal(closed.code, CloseCode.TokenExpired);
    assert.equal(closed.code, 4003);
    assert.ok(shouldReconnect(closed.code));
  });

  it('keeps a connection past its first exp when it refreshed in time, and refuses a refresh for another sub', async () => {
    const c = await connect(await mint({ channels: ['news:*', 'old'] }, { sub: 'erin', exp: nowS() + 2 }));
    await c.subscribe('old');
    c.send({ type: 'refresh', token: await mint({}, { sub: 'frank' }) });
    assert.equal((await c.waitFor((f) => f.type === 'error' && f['ref'] === 'refresh'))['code'], ErrorCode.Forbidden);
    c.send({ type: 'refresh', token: 'garbage' });
    const bad = await c.waitFor((f) => f.type === 'error' && f['ref'] === 'refresh' && f['code'] === ErrorCode.Unauthorized);
    assert.match(String(bad['message']), /malformed/);
    const exp = nowS() + 600;
    c.send({ type: 'refresh', token: await mint({ channels: ['news:*'] }, { sub: 'erin', exp }) });
    // permissions are replaced: the subscription the new token does not cover ends
    await c.waitFor((f) => f.type === 'unsubscribed' && f['channel'] === 'old');
    assert.equal((await c.waitFor((f) => f.type === 'refreshed'))['exp'], exp);
    await sleep(3500);
    assert.equal(c.closed, null, 'still open past the first exp');
    const from = c.inbox.length;
    c.send({ type: 'ping' });
    await c.waitFor((f) => f.type === 'pong', 5000, from);
  });

  it('refuses a flood of refreshes with rate_limited (they draw on the publish rate limit), keeping the connection', async () => {
    const c = await connect(await mint({}, { sub: 'flooder' }));
    // the default limit: 100 a second, a burst of 200; 300 at once overrun it, but not by another burst
    for (let i = 0; i < 300; i++) c.send({ type: 'refresh', token: `garbage-${i}` });
    await c.until(() => c.inbox.filter((f) => f.type === 'error' && f['ref'] === 'refresh').length === 300, 10_000, '300 answers');
    const codes = c.inbox.filter((f) => f.type === 'error').map((f) => f['code']);
    const limited = codes.filter((x) => x === ErrorCode.RateLimited).length;
    assert.ok(limited >= 50, `${limited} refreshes refused by the rate limit`);
    assert.equal(codes.filter((x) => x === ErrorCode.Unauthorized).length, 300 - limited, 'the others were checked and refused');
    c.send({ type: 'ping' });
    await c.waitFor((f) => f.type === 'pong');
    assert.equal(c.closed, null);
  });
});

describe('JWT with a secret (HS*) and with a key set (kid)', () => {
  const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'shardcast-jwks-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a secret takes HS256 and HS512 tokens and refuses an RS256 one by algorithm', async () => {
    const server = await startServer({ port: 0, workers: 2, logLevel: 'silent', jwtSecret: SECRET });
    const opened: TestClient[] = [];
    try {
      const secret = new TextEncoder().encode(SECRET);
      for (const alg of ['HS256', 'HS512']) {
        const token = await new SignJWT({}).setProtectedHeader({ alg }).setSubject('u').setExpirationTime(nowS() + 60).sign(secret);
        // three connections on two shards: one shard sees the token twice, the second time from its cache
        for (let i = 0; i < 3; i++) opened.push(await TestClient.connect(server.port, `/ws?token=${token}`));
      }
      assert.ok(server.stats().totals.tokenCacheHits >= 2, 'a repeated token skips verification on its shard');
      const rs = (await generateKeyPair('RS256')).privateKey;
      const token = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject('u').setExpirationTime(nowS() + 60).sign(rs);
      assert.equal(reasonOf(await refusedUpgrade(server.port, { query: `?token=${token}` })), 'algorithm');
      const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u').sign(secret);
      assert.equal(reasonOf(await refusedUpgrade(server.port, { query: `?token=${noExp}` })), 'malformed');
    } finally {
      for (const c of opened) c.close();
      await server.close();
    }
  });

  it('a key set picks the key by kid (ES256); an unknown kid is a bad signature', async () => {
    const es = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(es.publicKey)), kid: 'k1', use: 'sig' };
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    const server = await startServer({ port: 0, workers: 2, logLevel: 'silent', jwksFile: join(dir, 'jwks.json') });
    try {
      const sign = (kid: string): Promise<string> => new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid }).setSubject('k').setExpirationTime(nowS() + 60).sign(es.privateKey);
      const c = await TestClient.connect(server.port, `/ws?token=${await sign('k1')}`);
      c.close();
      assert.equal(reasonOf(await refusedUpgrade(server.port, { query: `?token=${await sign('k2')}` })), 'signature');
    } finally {
      await server.close();
    }
  });

  it('bad JWT options stop start-up with a ConfigError naming the option', async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    writeFileSync(join(dir, 'private.pem'), await exportPKCS8(rsa.privateKey));
    writeFileSync(join(dir, 'nokid.json'), JSON.stringify({ keys: [await exportJWK(rsa.publicKey)] }));
    writeFileSync(join(dir, 'junk.pem'), 'not a key');
    const cases: Array<[Parameters<typeof resolveConfig>[0], string]> = [
      [{ jwtSecret: 'short' }, 'jwtSecret'],
      [{ jwtPublicKey: join(dir, 'missing.pem') }, 'jwtPublicKey'],
      [{ jwtPublicKey: join(dir, 'junk.pem') }, 'jwtPublicKey'],
      [{ jwtPublicKey: join(dir, 'private.pem') }, 'jwtPublicKey'],
      [{ jwksFile: join(dir, 'nokid.json') }, 'jwksFile'],
      [{ jwksFile: join(dir, 'junk.pem') }, 'jwksFile'],
      [{ jwtSecret: SECRET, jwksFile: join(dir, 'nokid.json') }, 'jwksFile'],
      [{ jwtAudience: 'x' }, 'jwtAudience'],
      [{ jwtSecret: SECRET, jwtLeeway: 10_000 }, 'jwtLeeway'],
    ];
    for (const [options, option] of cases) {
      assert.throws(() => resolveConfig(options), (e: unknown) => e instanceof ConfigError && e.option === option, JSON.stringify(options));
    }
    assert.deepEqual(resolveConfig({ jwtSecret: SECRET }).jwt?.algorithms, ['HS256', 'HS384', 'HS512']);
  });
});

describe('the bench client against a server that requires tokens', () => {
  const SECRET = 'bench-secret-of-at-least-32-bytes!!!';

  it('--token-secret mints one token per connection; --token shares one; none is refused 401', async () => {
    const server = await startServer({ port: 0, workers: 2, logLevel: 'silent', jwtSecret: SECRET });
    try {
      const url = `ws://127.0.0.1:${server.port}/ws`;
      const minted = await runBench({ url, connections: 40, channels: 2, messages: 40, inflight: 4, publish: 'ws', threads: 1, tokenSecret: SECRET });
      assert.equal(minted.connections.open, 40);
      assert.equal(minted.deliveries.delivered, minted.deliveries.expected);
      assert.ok(minted.deliveries.expected > 0);
      const before = server.stats().totals;
      const token = await new SignJWT({ channels: ['*'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('shared').setExpirationTime(nowS() + 600).sign(new TextEncoder().encode(SECRET));
      const shared = await runBench({ url, connections: 20, channels: 1, messages: 10, rate: 100, threads: 1, token });
      assert.equal(shared.connections.open, 20);
      assert.ok(server.stats().totals.tokenCacheHits - before.tokenCacheHits >= 18, 'one shared token: verified once per shard, then from the cache');
      const none = await runBench({ url, connections: 5, messages: 5, rate: 100, threads: 1 });
      assert.deepEqual(none.connections.failures, { 'HTTP 401': 5 });
      assert.throws(() => resolveBenchOptions({ url, token, tokenSecret: SECRET }), BenchUsageError);
      assert.throws(() => resolveBenchOptions({ url, token: 'nope' }), BenchUsageError);
    } finally {
      await server.close();
    }
  });
});
