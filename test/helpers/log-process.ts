/**
 * LogProcess — a real server in a child process whose log lines (stdout) a test reads as they
 * come: either the `shardcast serve` CLI, or startServer() in a small script that also takes
 * commands on stdin (`fault N`, `stall N MS`, `publish N` (one each 20 ms), `close`), for lifecycle events only the
 * in-process API can cause.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { waitUntil } from './wait.js';

const CLI = new URL('../../src/cli.js', import.meta.url).pathname;
const INDEX = new URL('../../src/index.js', import.meta.url).href;
const LOGGER = new URL('../../src/engine/logger.js', import.meta.url).href;

export class LogProcess {
  out = '';
  err = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8').on('data', (d: string) => (this.out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.err += d));
    // 'close', not 'exit': the last lines may still be in the pipe when the process exits
    this.exited = new Promise((r) => child.once('close', (code, signal) => r({ code, signal })));
  }

  static cli(args: string[]): LogProcess {
    return new LogProcess(spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  /** startServer(options) with a JSON logger on stdout; stdin commands drive faults, stalls and close. */
  static script(options: Record<string, unknown>, level = 'info'): LogProcess {
    // CommonJS -e with a dynamic import: workers inherit execArgv, and --input-type=module would fail them
    const script = `(async () => {
      const { startServer } = await import(${JSON.stringify(INDEX)});
      const { createLogger } = await import(${JSON.stringify(LOGGER)});
      const s = await startServer(${JSON.stringify(options)}, createLogger(${JSON.stringify(level)}, (l) => process.stdout.write(l)));
      require('node:readline').createInterface({ input: process.stdin }).on('line', async (line) => {
        const [cmd, a, b] = line.split(' ');
        if (cmd === 'fault') s.injectFault(Number(a));
        if (cmd === 'stall') s.injectStall(Number(a), Number(b));
        // one every 20 ms: spread over time, so that some land while a shard is stalled
        if (cmd === 'publish') for (let i = 0; i < Number(a); i++) { await s.publish('x', i); await new Promise((r) => setTimeout(r, 20)); }
        if (cmd === 'close') { await s.close(); process.exit(0); }
      });
    })().catch((err) => { process.stderr.write(String(err.stack)); process.exit(9); });`;
    return new LogProcess(spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  /** Every complete stdout line, parsed as JSON (throws on a line that is not). */
  get lines(): Array<Record<string, unknown>> {
    return this.out.split('\n').filter((l) => l !== '').map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`a log line that is not JSON: ${l}`);
      }
    });
  }

  events(event: string): Array<Record<string, unknown>> {
    return this.lines.filter((l) => l['event'] === event);
  }

  async waitEvent(event: string, pred: (l: Record<string, unknown>) => boolean = () => true, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    await waitUntil(() => this.events(event).some(pred) || this.child.exitCode !== null, timeoutMs, `log event ${event}; got ${this.out}${this.err}`);
    const hit = this.events(event).find(pred);
    if (hit === undefined) throw new Error(`the process exited before logging ${event}: ${this.out}${this.err}`);
    return hit;
  }

  send(command: string): void {
    this.child.stdin.write(`${command}\n`);
  }

  /** Ends the process if a failed test left it running. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
