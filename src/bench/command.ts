/**
 * `shardcast bench …` as a command: parse and pre-check the arguments (so a typo or an
 * unwritable --json path fails before a long run, exit 2), run with the live display, print
 * the report, write the files. Ctrl-C once ends the run early with a report; twice quits.
 */
import { accessSync, constants, existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { wantsColor } from './format.js';
import { renderHtml } from './html-report.js';
import { BenchUsageError, parseBenchArgs } from './options.js';
import { BENCH_USAGE } from './usage.js';
import { Progress } from './progress.js';
import { runBench } from './run.js';
import { renderTerminalReport } from './terminal-report.js';

export interface CommandIo {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
}

/** Returns the exit code: 0 the run completed, 1 it could not; throws BenchUsageError for exit 2. */
export async function benchCommand(argv: readonly string[], io: CommandIo = process): Promise<number> {
  const parsed = parseBenchArgs(argv);
  if (parsed.help) {
    io.stdout.write(BENCH_USAGE);
    return 0;
  }
  for (const [flag, path] of [['--json', parsed.json], ['--html', parsed.html]] as const) {
    if (path !== null) checkWritable(flag, path);
  }
  const pids = parsed.input.serverPid;
  for (const pid of pids == null ? [] : typeof pids === 'number' ? [pids] : pids) {
    if (!existsSync(`/proc/${pid}`)) throw new BenchUsageError(`invalid --server-pid ${pid}: no such process on this machine`);
  }

  const controller = new AbortController();
  const progress = new Progress(io.stderr, wantsColor(io.stderr));
  let interrupts = 0;
  const onSigint = (): void => {
    if (interrupts++ > 0) process.exit(130);
    progress.clear(); // the block is redrawn below the notice
    io.stderr.write('interrupted: stopping the run and reporting what was measured (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    const report = await runBench(parsed.input, {
      signal: controller.signal,
      onStatus: progress.enabled ? (s) => progress.update(s) : undefined,
      command: ['bench', ...redactSecrets(argv)].map(shellQuote).join(' '),
    });
    progress.clear();
    io.stdout.write(renderTerminalReport(report, wantsColor(io.stdout)));
    let code = report.outcome === 'aborted' ? 1 : 0;
    const files: Array<[string | null, () => string]> = [
      [parsed.json, () => `${JSON.stringify(report, null, 2)}\n`],
      [parsed.html, () => renderHtml(report)],
    ];
    for (const [path, content] of files) {
      if (path === null) continue;
      try {
        writeFileSync(path, content());
        io.stdout.write(`report written to ${path}\n`);
      } catch (err) {
        io.stderr.write(`shardcast: could not write ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
        code = 1;
      }
    }
    return code;
  } finally {
    progress.clear();
    process.off('SIGINT', onSigint);
  }
}

/** The report file's directory must exist and be writable, and the path must not be a directory. */
function checkWritable(flag: string, path: string): void {
  const full = resolve(path);
  if (existsSync(full) && statSync(full).isDirectory()) throw new BenchUsageError(`invalid ${flag} ${path}: is a directory`);
  try {
    accessSync(existsSync(full) ? full : dirname(full), constants.W_OK);
  } catch {
    throw new BenchUsageError(`invalid ${flag} ${path}: ${existsSync(dirname(full)) ? 'not writable' : 'no such directory'}`);
  }
}

/** The command line is archived with the report: never the API key. */
export function redactSecrets(argv: readonly string[]): string[] {
  return argv.map((a, i) => (argv[i - 1] === '--api-key' ? 'REDACTED' : a.startsWith('--api-key=') ? '--api-key=REDACTED' : a));
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_\-.,:/=@%+]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
