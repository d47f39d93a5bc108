/**
 * Logger — structured logs with pino: one JSON object per line (`time`, `level`, `msg`, and
 * fields such as `event` and `shard`), or with --log-format pretty one readable line per event
 * (pretty-log.ts, our own few lines rather than pino-pretty and its dependencies).
 *
 * Only lifecycle events are logged — start, shard up/down/restart/stall, broker state,
 * shutdown — never one line per message: a log line costs the main thread (the serial stage)
 * a JSON serialisation and a write. Shards log through the main thread (a `log` control
 * message), so there is one writer and lines never interleave.
 */
import { pino, type DestinationStream } from 'pino';
import type { LogLevel } from './option-specs.js';
import { prettyLine } from './pretty-log.js';

/** Fields beside the message; `event` names a lifecycle event (docs/operations.md lists them). */
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export type LogFormat = 'json' | 'pretty';

/**
 * A logger at `level`, writing each line to `write` (default: stderr, synchronously, so the
 * last lines before an exit are not lost).
 */
export function createLogger(level: LogLevel, write?: (line: string) => void, format: LogFormat = 'json'): Logger {
  const sink = write ?? ((line: string) => process.stderr.write(line));
  const stream: DestinationStream = { write: format === 'pretty' ? (line: string) => sink(prettyLine(line)) : sink };
  const log = pino(
    {
      level,
      base: undefined, // no pid and hostname on every line: collectors add their own
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) }, // "level":"warn", not 30
    },
    stream,
  );
  const at = (lvl: 'debug' | 'info' | 'warn' | 'error') => (msg: string, fields?: LogFields): void => {
    if (fields === undefined) log[lvl](msg);
    else log[lvl](fields, msg);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
