/** A minimal levelled logger to stderr (one line per event, ISO time first). */
import type { LogLevel } from './config.js';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const at = ORDER[level];
  const line = (lvl: LogLevel) => (msg: string) => {
    if (ORDER[lvl] >= at) write(`${new Date().toISOString()} ${lvl} ${msg}\n`);
  };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}
