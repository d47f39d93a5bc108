// The acceptor experiment's client: runs server.mjs in a child process, opens N WebSocket
// connections (raw handshake, waits for the welcome frame, closes; C at a time) and prints the
// rate, the spread over shards and the CPU of each thread; then restarts shard 0 while N/2 more
// connect (RESTART=0 skips that). Node 22/24 with glibc >= 2.38 (the CI root), e.g.
//   MODE=reuseport node bench/experiments/acceptor/bench.mjs
//   MODE=acceptor node bench/experiments/acceptor/bench.mjs
import { fork } from 'node:child_process';
import net from 'node:net';
const N = Number(process.env.N ?? 4000), C = Number(process.env.C ?? 64), PORT = Number(process.env.PORT ?? 9100);
const MODE = process.env.MODE ?? 'reuseport';
const child = fork(new URL('./server.mjs', import.meta.url), { env: { ...process.env, MODE, PORT: String(PORT) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const next = (type) => new Promise((r) => { const f = (m) => { if (m.type === type) { child.off('message', f); r(m); } }; child.on('message', f); });
let exited = null;
child.on('exit', (code, signal) => { exited = signal ?? `exit ${code}`; });
await next('ready');
const req = 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
function one() {
  return new Promise((resolve) => {
    const s = net.connect(PORT, '127.0.0.1', () => s.write(req));
    let buf = '';
    const t = setTimeout(() => { s.destroy(); resolve('timeout'); }, 5000);
    s.on('data', (d) => { buf += d.toString('latin1'); if (buf.includes('welcome')) { clearTimeout(t); s.destroy(); resolve('ok'); } });
    s.on('error', () => { clearTimeout(t); resolve('error'); });
    s.on('close', () => { clearTimeout(t); resolve(buf.includes('welcome') ? 'ok' : 'closed'); });
  });
}
async function wave(n) {
  const out = { ok: 0, timeout: 0, error: 0, closed: 0 };
  let i = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: C }, async () => { while (i++ < n) out[await one()]++; }));
  return { ...out, perS: Math.round(n / (Number(process.hrtime.bigint() - t0) / 1e9)) };
}
const cpu = (s) => s.shards.map((x) => (x.cpu.user + x.cpu.system) / 1000);
const before = await (child.send({ type: 'stats' }), next('stats'));
const w = await wave(N);
const after = await (child.send({ type: 'stats' }), next('stats'));
const spread = after.shards.map((s, k) => s.opened - before.shards[k].opened);
const shardCpu = cpu(after).map((c, k) => Math.round(c - cpu(before)[k]));
const mainCpu = Math.round(((after.main.user + after.main.system) - (before.main.user + before.main.system)) / 1000);
console.log(JSON.stringify({ mode: MODE, wave: w, spread, shardCpuMs: shardCpu, mainCpuMs: mainCpu }));
// restart shard 0 while connections are being opened
const variants = process.env.RESTART === '0' ? [] : MODE === 'acceptor' ? [{ remove: true }, { remove: false }] : [{}];
for (const v of variants) {
  const during = wave(N / 2);
  await new Promise((r) => setTimeout(r, 100));
  child.send({ type: 'restart', id: 0, gapMs: 200, ...v });
  const rs = await Promise.race([next('restarted'), new Promise((r) => setTimeout(() => r({ ms: 'no answer in 10 s' }), 10000))]);
  const d = await during;
  const post = await wave(400);
  console.log(JSON.stringify({ mode: MODE, restart: v.remove === false ? 'app closed, descriptor not removed' : 'orderly', restartMs: rs.ms, duringRestart: d, afterRestart: post, server: exited ?? 'running' }));
  if (exited !== null) break;
}
if (exited === null) child.send({ type: 'exit' });
