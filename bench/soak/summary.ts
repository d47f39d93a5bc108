/** The printed summary of an adversarial run: what was sent, what the server answered, the healthy ledger, memory. */
import { mib, type SoakResult, type StatsShape } from './run.js';
import { failures } from './verdict.js';
import { PHASES } from './healthy-protocol.js';

const num = (n: number): string => n.toLocaleString('en-US');

function group(title: string, counts: Record<string, number> | undefined, indent = '  '): string[] {
  if (counts === undefined) return [];
  const rows = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  if (rows.length === 0) return [];
  const width = Math.min(60, Math.max(...rows.map(([k]) => k.length)));
  return [title, ...rows.map(([k, n]) => `${indent}${k.padEnd(width)}  ${num(n).padStart(12)}`)];
}

const COUNTERS = ['errorFrames', 'closedTooBig', 'closedSlowConsumer', 'connectionsOpened', 'connectionsRefused', 'clientPublishes', 'httpPublishes', 'rejectedOverloaded', 'httpErrors', 'publications', 'deliveries'];
const MAIN = ['published', 'rejectedOverloaded', 'rejectedTooLarge', 'shardFaults', 'shardRestarts'];

function counterDeltas(before: StatsShape | null, after: StatsShape | null): Record<string, number> | undefined {
  if (after === null) return undefined;
  const out: Record<string, number> = {};
  for (const k of COUNTERS) out[`shards ${k}`] = (after.totals[k] ?? 0) - (before?.totals[k] ?? 0);
  for (const k of MAIN) out[`main ${k}`] = (after.main[k] ?? 0) - (before?.main[k] ?? 0);
  return out;
}

/** Error frames by code over every WebSocket attack, HTTP errors by status and code, closes by code. */
function refusals(r: SoakResult): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (k: string, n: number): void => {
    out[k] = (out[k] ?? 0) + n;
  };
  for (const [g, keys] of Object.entries(r.attack.counts)) {
    for (const [k, n] of Object.entries(keys)) {
      if (g.startsWith('answer:') && k.startsWith('error:')) add(`ws error ${k.slice(6)}`, n);
      else if (g === 'answer:http') {
        const m = / → (\d{3})( \S+)?$/.exec(k);
        if (m !== null && m[1] !== '200') add(`http ${m[1]}${m[2] ?? ''}`, n);
      } else if (g.startsWith('close:')) add(`ws close ${k}`, n);
      else if (g.startsWith('connect:') && k !== 'opened') add(`ws connect ${k}`, n);
    }
  }
  return out;
}

export function summary(r: SoakResult): string {
  const fails = failures(r);
  const lines: string[] = [];
  lines.push(`Adversarial run: attack ${(r.plan.attackMs / 1000).toFixed(0)} s, seed ${r.plan.seed}, ${r.seconds.toFixed(0)} s in all, started ${r.startedAt}`);
  lines.push(`server: ${r.command}`);
  if ((r.plan.skip ?? []).length > 0) lines.push(`attack kinds left out: ${r.plan.skip!.join(', ')}`);
  lines.push(fails.length === 0 ? 'verdict: PASS' : `verdict: FAIL (${fails.length})`);
  for (const f of fails) lines.push(`  ✗ ${f}`);
  const c = r.attack.counts;
  lines.push('', ...group('attacks sent:', c['sent']));
  for (const kind of Object.keys(c).filter((k) => k.startsWith('connect:')).sort()) lines.push(...group(`connections (${kind.slice(8)}):`, c[kind]));
  for (const kind of Object.keys(c).filter((k) => k.startsWith('answer:')).sort()) lines.push(...group(`server answers (${kind.slice(7)}):`, c[kind]));
  for (const kind of Object.keys(c).filter((k) => k.startsWith('close:')).sort()) lines.push(...group(`closes (${kind.slice(6)}):`, c[kind]));
  lines.push(...group('malformed frame → answer:', c['verdict:malformed']));
  lines.push(...group('refusals by code (all attacks):', refusals(r)));
  if (r.attack.samples.length > 0) lines.push('unexpected (first ones):', ...r.attack.samples.map((s) => `  ${s}`));
  lines.push('', ...group('server counters over the run (from /api/stats):', counterDeltas(r.server.statsBefore, r.server.statsAfter)));
  const h = r.healthy;
  if (h !== null) {
    const l = h.ledger;
    lines.push('', `healthy: ${l.subscribers} subscribers on shards ${[...new Set(h.shards)].sort().join(', ')}, ${l.channels} channels`);
    for (const p of PHASES) {
      const f = h.phases[p];
      const refused = Object.entries(f.refused).map(([k, n]) => `${k} ×${n}`).join(', ') || 'none';
      lines.push(`  ${p.padEnd(6)}: published ${num(f.published)}, accepted ${num(f.accepted)}, refused ${refused}, unanswered ${f.unanswered}, skipped ${f.skipped}; probes ${f.probesOk} ok / ${f.probesFailed} failed, slowest ${f.probeMaxMs} ms`);
    }
    lines.push(`  ledger: ${num(l.accepted)} accepted, ${num(l.delivered)} delivered of ${num(l.expected)} expected; missing ${l.missing}, duplicated ${l.duplicates}, out of order ${l.outOfOrder}, skipped seqs ${l.gaps}, mismatched ${l.mismatched}, unconfirmed ${l.unconfirmed}; closed early ${l.closedEarly.length}`);
    for (const p of l.problems.slice(0, 5)) lines.push(`    ${p}`);
  }
  const m = r.memory;
  lines.push('', `memory (server RSS): baseline ${mib(m.baseline)}, mid-attack ${mib(m.midAttack)}, end of attack ${mib(m.endAttack)}, peak ${mib(m.peak)}, after ${mib(m.after)}${m.settledMs === null ? ' (not under the bound)' : ` (under the bound ${m.settledMs} ms after the stream ended)`}; bound ${mib(m.bound)}`);
  if (r.server.stop) lines.push(`server stop: code ${r.server.stop.code}, ${r.server.stop.ms} ms${r.server.stop.forced ? ', FORCED' : ''}`);
  if (r.server.errorLines.length > 0) lines.push('server errors/warnings (last):', ...r.server.errorLines.slice(-8).map((l) => `  ${l.slice(0, 240)}`));
  return lines.join('\n');
}
