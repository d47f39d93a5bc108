/**
 * The live display while a bench runs: a two-line block on stderr, redrawn in place with ANSI
 * escapes (cursor up, clear line) four times a second. Only on a TTY: piped or redirected
 * output stays quiet, so logs and CI output hold just the final report.
 */
import { fmtInt, fmtMs, fmtSeconds, paint, truncate, type Paint } from './format.js';
import type { LiveStatus } from './run.js';

const BAR_WIDTH = 24;

export class Progress {
  private lines = 0;
  private readonly p: Paint;
  readonly enabled: boolean;

  constructor(private readonly stream: NodeJS.WriteStream, color: boolean) {
    this.enabled = stream.isTTY === true;
    this.p = paint(color);
  }

  update(s: LiveStatus): void {
    if (!this.enabled) return;
    const width = Math.max(40, (this.stream.columns || 100) - 1);
    const block = render(s, this.p).map((l) => truncate(l, width));
    this.stream.write(`${this.rewind()}${block.map((l) => `\x1b[2K${l}`).join('\n')}`);
    this.lines = block.length;
  }

  /** Removes the block, leaving the cursor where it started. */
  clear(): void {
    if (!this.enabled || this.lines === 0) return;
    this.stream.write(`${this.rewind()}\x1b[J`);
    this.lines = 0;
  }

  private rewind(): string {
    return this.lines > 1 ? `\r\x1b[${this.lines - 1}A` : '\r';
  }
}

/** The block's lines: where the run is, then what it measures right now. */
export function render(s: LiveStatus, p: Paint): string[] {
  const o = s.options;
  const l = s.live;
  let head: string;
  switch (s.phase) {
    case 'connecting': {
      const settled = l.ready + l.failed;
      head = `${p.bold('connecting')} ${bar(settled / o.connections)} ${fmtInt(settled)}/${fmtInt(o.connections)} · ${fmtSeconds(s.elapsedMs)}`;
      break;
    }
    case 'publishing': {
      const ms = s.publishingMs ?? 0;
      const frac = o.messages !== null && o.durationMs === null ? s.attempted / o.messages : ms / o.publishLimitMs;
      const goal = o.messages !== null && o.durationMs === null ? `${fmtInt(s.attempted)}/${fmtInt(o.messages)} messages` : `${fmtSeconds(ms)} / ${fmtSeconds(o.publishLimitMs)}`;
      head = `${p.bold('publishing')} ${bar(frac)} ${goal}`;
      break;
    }
    case 'draining': {
      const exp = s.expected ?? 0;
      head = `${p.bold('draining')}   ${bar(exp > 0 ? l.delivered / exp : 1)} ${fmtInt(l.delivered)}/${fmtInt(exp)} deliveries`;
      break;
    }
    case 'closing':
      head = `${p.bold('closing')} connections and collecting results…`;
      break;
  }
  const failed = l.failed > 0 ? p.red(`${fmtInt(l.failed)} failed`) : '0 failed';
  const closed = l.closedByServer > 0 ? ` · ${p.red(`${fmtInt(l.closedByServer)} closed by server`)}` : '';
  const refused = s.refused > 0 ? p.yellow(`${fmtInt(s.refused)} refused`) : '0 refused';
  const faults = l.duplicated + l.outOfOrder + l.seqGaps > 0
    ? ` · ${p.red(`dup ${fmtInt(l.duplicated)} ooo ${fmtInt(l.outOfOrder)} gaps ${fmtInt(l.seqGaps)}`)}`
    : '';
  const detail = [
    `conns ${fmtInt(l.open)} open · ${failed}${closed}`,
    `pub ${fmtInt(s.accepted)} ok · ${refused}`,
    `${fmtInt(s.deliveriesPerSecond)} deliv/s`,
    `p99 ${s.p99 > 0 ? fmtMs(s.p99) : '-'}${faults}`,
  ].join(p.dim(' │ '));
  return [head, detail];
}

function bar(fraction: number): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * BAR_WIDTH);
  return `[${'#'.repeat(full)}${'.'.repeat(BAR_WIDTH - full)}]`;
}
