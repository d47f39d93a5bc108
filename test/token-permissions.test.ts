/**
 * The pieces under the handshake check, in isolation: `{sub}` in channel patterns, claims →
 * permissions (patterns shared per claim shape), and the verifier's bounded cache (least
 * recently used out first, expired entries never answered, and swept). Tokens are real (jose), the clock is passed in.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { ChannelPatterns, checkPatterns } from '../src/auth/channel-patterns.js';
import { GrantTable } from '../src/auth/grant-table.js';
import { permissionsFromClaims } from '../src/auth/permissions.js';
import { TokenVerifier, isRefusal, type Verdict } from '../src/auth/token-verifier.js';
import { loadJwtSettings } from '../src/auth/jwt-settings.js';

const SECRET = 'unit-test-secret-of-32-bytes-or-more';

describe('{sub} in channel patterns', () => {
  it('stands for the sub, as a name or inside a prefix', () => {
    const p = new ChannelPatterns(['user:{sub}', 'inbox:{sub}:*', 'news', '{sub}:{sub}'], true);
    for (const c of ['user:alice', 'inbox:alice:1', 'inbox:alice:', 'news', 'alice:alice']) assert.ok(p.matches(c, 'alice'), c);
    for (const c of ['user:bob', 'user:alice2', 'inbox:bob:1', 'inbox:alice', 'user:{sub}', 'alice:bob', 'alice']) assert.ok(!p.matches(c, 'alice'), c);
    assert.ok(p.matches('user:bob', 'bob'), 'the same compiled patterns serve every sub');
    assert.ok(!p.matches('user:alice') && p.matches('news'), 'no sub (anonymous): only the patterns without {sub}');
  });

  it('matches nothing when the sub holds characters a channel name may not hold (no wildcard smuggling)', () => {
    const p = new ChannelPatterns(['user:{sub}', 'user:{sub}*'], true);
    for (const sub of ['*', 'a*', 'a b', 'x'.repeat(201), 'é']) {
      for (const c of ['user:a', `user:${sub}`, `user:${sub}x`]) assert.ok(!p.matches(c, sub), `${sub} ${c}`);
    }
  });

  it('drops a {sub} pattern that the sub makes longer than a channel name (200)', () => {
    const p = new ChannelPatterns(['user:{sub}', 'inbox:{sub}*'], true);
    const fits = 'y'.repeat(195);
    const over = 'y'.repeat(196);
    assert.ok(p.matches(`user:${fits}`, fits));
    assert.ok(!p.matches(`user:${over}`, over));
    assert.ok(!p.matches(`inbox:${over}`, over), 'its prefix form too');
  });

  it('is only allowed where a sub is given (claims), not in server options', () => {
    assert.equal(checkPatterns(['user:{sub}'], true), null);
    assert.notEqual(checkPatterns(['user:{sub}']), null);
  });
});

describe('claims → permissions', () => {
  it('needs sub and exp; channels and publish are pattern lists, absent = none', () => {
    assert.match(permissionsFromClaims({ exp: 1 }) as string, /sub/);
    assert.match(permissionsFromClaims({ sub: 'a' }) as string, /exp/);
    assert.match(permissionsFromClaims({ sub: 'a', exp: 1, channels: 'news' }) as string, /channels/);
    assert.match(permissionsFromClaims({ sub: 'a', exp: 1, publish: ['bad name'] }) as string, /publish/);
    const p = permissionsFromClaims({ sub: 'a', exp: 10, channels: ['x:*'] });
    assert.ok(typeof p !== 'string');
    assert.equal(p.user, 'a');
    assert.equal(p.expiresAt, 10_000);
    assert.ok(p.subscribe.matches('x:1'));
    assert.ok(p.publish.none);
  });

  it('shares the compiled patterns between tokens whose claims differ only by sub, in a bounded table', () => {
    const grants = new GrantTable(2);
    const claims = { exp: 10, channels: ['user:{sub}:*', 'news'], publish: ['user:{sub}:out'] };
    const a = permissionsFromClaims({ ...claims, sub: 'alice' }, grants);
    const b = permissionsFromClaims({ ...claims, sub: 'bob' }, grants);
    assert.ok(typeof a !== 'string' && typeof b !== 'string');
    assert.equal(a.subscribe, b.subscribe);
    assert.equal(a.publish, b.publish);
    assert.ok(a.subscribe.matches('user:alice:1', a.user) && !a.subscribe.matches('user:bob:1', a.user));
    assert.ok(b.publish.matches('user:bob:out', b.user) && !b.publish.matches('user:alice:out', b.user));
    assert.equal(grants.shapes, 1);
    permissionsFromClaims({ sub: 'c', exp: 10, channels: ['a'] }, grants);
    permissionsFromClaims({ sub: 'c', exp: 10, channels: ['b'] }, grants);
    assert.equal(grants.shapes, 2, 'at most its size');
  });
});

describe('the verifier cache', () => {
  const settings = loadJwtSettings({ jwtSecret: SECRET, jwtPublicKey: null, jwksFile: null, jwtAudience: null, jwtIssuer: null, jwtLeeway: 0 })!;
  const mint = (sub: string, exp: number): Promise<string> => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime(exp).sign(new TextEncoder().encode(SECRET));
  const settle = async (v: Verdict | Promise<Verdict>): Promise<Verdict> => v;

  it('answers a repeated token from the cache, evicts the least recently used past its size, and never answers an expired entry', async () => {
    let hits = 0;
    const v = new TokenVerifier(settings, () => hits++, 2);
    const now = Date.now();
    const exp = Math.floor(now / 1000) + 60;
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((s) => mint(s, exp)));
    assert.ok(!isRefusal(await settle(v.verify(a!, now))));
    assert.ok(!isRefusal(await settle(v.verify(b!, now))));
    const again = v.verify(a!, now);
    assert.ok(!(again instanceof Promise), 'a cached token is answered at once');
    assert.equal(hits, 1);
    await settle(v.verify(c!, now)); // evicts b (a was used more recently)
    assert.ok(v.verify(b!, now) instanceof Promise, 'b was evicted');
    assert.ok(!(v.verify(a!, now) instanceof Promise), 'a stayed');
    // past its exp, the cached entry is not used: the token is checked again, and refused
    const late = await settle(v.verify(a!, now + 120_000));
    assert.ok(isRefusal(late) && late.reason === 'expired');
  });

  it('forgets expired tokens on its sweep', async () => {
    const v = new TokenVerifier(settings, () => {}, 10);
    const now = Date.now();
    const [short, long] = await Promise.all([mint('s', Math.floor(now / 1000) + 5), mint('l', Math.floor(now / 1000) + 60)]);
    await settle(v.verify(short!, now));
    await settle(v.verify(long!, now));
    assert.equal(v.cached, 2);
    v.sweep(now + 10_000);
    assert.equal(v.cached, 1);
    assert.ok(!(v.verify(long!, now + 10_000) instanceof Promise), 'the unexpired one is still answered from the cache');
  });
});
