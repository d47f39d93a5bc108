/**
 * prettyLine — one pino JSON line made readable for a terminal (--log-format pretty):
 * `12:00:01.234 WARN  shard 1 exited with code 70; restarting  event=shard_down shard=1`.
 * Our own few lines instead of pino-pretty: no dependencies, nothing to install.
 */
export function prettyLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json; // not ours to reformat
  }
  const { time, level, msg, ...rest } = o;
  const clock = typeof time === 'string' ? time.slice(11, 23) : '';
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`);
  return `${clock} ${String(level).toUpperCase().padEnd(5)} ${typeof msg === 'string' ? msg : ''}${fields.length > 0 ? `  ${fields.join(' ')}` : ''}\n`;
}
