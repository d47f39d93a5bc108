// main-thread cost of a /metrics scrape: via the admin port (node:http on main) vs the public port (a shard forwards to main)
import { startServer } from '../../../dist/src/index.js';
import { performance } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
const server = await startServer({ port: 0, workers: 2, logLevel: 'silent', adminPort: 0 });
const pub = await startServer({ port: 0, workers: 2, logLevel: 'silent' });
const N = 400;
async function run(port) {
  const e0 = performance.eventLoopUtilization();
  const t0 = Date.now();
  await new Promise((res, rej) => {
    const c = spawn(process.execPath, ['-e', `(async()=>{for(let i=0;i<${N};i++){const r=await fetch('http://127.0.0.1:${port}/metrics');await r.text();}})()`], { stdio: 'inherit' });
    c.on('exit', (code) => code === 0 ? res() : rej(new Error('scraper ' + code)));
  });
  const e = performance.eventLoopUtilization(e0);
  return { activeMsPerScrape: (e.active / N).toFixed(3), wallMs: Date.now() - t0 };
}
for (let round = 0; round < 3; round++) {
  console.log('admin  ', JSON.stringify(await run(server.adminPort)));
  console.log('public ', JSON.stringify(await run(pub.port)));
}
// collect() alone, for reference
let t = performance.now();
for (let i = 0; i < 200; i++) await server.metrics();
console.log('metrics() alone ms', ((performance.now() - t) / 200).toFixed(3));
await server.close(); await pub.close();
