/**
 * Handshakes per second with and without JWT, same process, same run, so the ratios hold on a
 * noisy box: an in-process server with one shard per mode, a raw-TCP client that keeps
 * CONCURRENCY upgrades in flight and drops each connection at its 101. Tokens are minted
 * before the clock starts (the client's cost is not the server's).
 *
 *   node dist/bench/handshakes.js [--count 3000] [--rounds 2]
 *
 * Modes: none (no JWT); HS256 and ES256 with a distinct token per handshake (every one
 * verified: the cost of a reconnect storm of distinct users) and with one token repeated (the
 * shard's cache of verified tokens answers).
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type Options } from '../src/index.js';
import { mintHs256 } from '../src/bench/bench-token.js';
import { newSecKey, upgradeRequest } from '../src/bench/ws-wire.js';

const CONCURRENCY = 32;
const SECRET = 'handshake-bench-secret-32-bytes-long!';

const { values } = parseArgs({ options: { count: { type: 'string', default: '3000' }, rounds: { type: 'string', default: '2' } } });
const COUNT = Number(values.count);
const ROUNDS = Number(values.rounds);

/** Handshakes per second for `paths` (one upgrade each), CONCURRENCY at a time. */
async function measure(port: number, paths: readonly string[]): Promise<{ rate: number; failed: number }> {
  let next = 0;
  let failed = 0;
  const one = (path: string): Promise<void> =>
    new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => s.write(upgradeRequest('127.0.0.1', port, path, newSecKey())));
      s.once('data', (d: Buffer) => {
        if (!d.subarray(0, 12).toString().startsWith('HTTP/1.1 101')) failed++;
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        failed++;
        resolve();
      });
    });
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < paths.length) await one(paths[next++]!);
    }),
  );
  return { rate: paths.length / ((performance.now() - start) / 1000), failed };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'shardcast-hs-'));
  const es = await generateKeyPair('ES256', { extractable: true });
  writeFileSync(join(dir, 'es.pem'), await exportSPKI(es.publicKey));
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const esToken = (sub: string): Promise<string> => new SignJWT({ channels: ['*'] }).setProtectedHeader({ alg: 'ES256' }).setSubject(sub).setExpirationTime(exp).sign(es.privateKey);
  const plain = Array.from({ length: COUNT }, () => '/ws');
  const withToken = (t: string): string => `/ws?token=${t}`;
  const hsDistinct = Array.from({ length: COUNT }, (_, i) => withToken(mintHs256(SECRET, `u${i}`, 3600)));
  const hsSame = Array.from({ length: COUNT }, () => hsDistinct[0]!);
  const esDistinct = await Promise.all(Array.from({ length: COUNT }, async (_, i) => withToken(await esToken(`u${i}`))));
  const esSame = Array.from({ length: COUNT }, () => esDistinct[0]!);
  const base: Options = { port: 0, workers: 1, logLevel: 'silent' };
  const modes: Array<[string, Options, string[][]]> = [
    ['none', base, [plain]],
    ['HS256', { ...base, jwtSecret: SECRET }, [hsDistinct, hsSame]],
    ['ES256', { ...base, jwtPublicKey: join(dir, 'es.pem') }, [esDistinct, esSame]],
  ];
  const rows: string[] = [];
  // warm-up (JIT, first-connection costs), not reported
  const warm = await startServer(base);
  await measure(warm.port, plain.slice(0, 1000));
  await warm.close();
  for (let round = 1; round <= ROUNDS; round++) {
    let noneRate = 0;
    for (const [name, options, sets] of modes) {
      const server = await startServer(options);
      try {
        for (const [k, paths] of sets.entries()) {
          const { rate, failed } = await measure(server.port, paths);
          if (name === 'none') noneRate = rate;
          const label = name === 'none' ? 'no JWT' : `${name}, ${k === 0 ? 'a distinct token each' : 'one token repeated (cache)'}`;
          rows.push(`| ${round} | ${label} | ${Math.round(rate).toLocaleString('en-US')} | ${(rate / noneRate).toFixed(2)}× | ${failed} |`);
        }
      } finally {
        await server.close();
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(`${COUNT} handshakes per mode, ${CONCURRENCY} in flight, 1 shard\n`);
  console.log('| round | mode | handshakes/s | × no JWT (same round) | failed |\n| ---: | --- | ---: | ---: | ---: |');
  for (const r of rows) console.log(r);
}

await main();
