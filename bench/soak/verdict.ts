/**
 * The pass criteria of an adversarial run, applied to its result: the server never exits and
 * no shard fails, it keeps answering (probes, and healthy publishes accepted after the attack),
 * every healthy subscriber gets every accepted message exactly once and in seq order, every
 * attack got a legitimate answer, and memory comes back under the bound. Also that each attack
 * actually ran, so that a harness that did nothing cannot pass.
 */
import type { SoakResult } from './run.js';
import { LATE_GROWTH_MIN_ATTACK_MS, MEMORY_LATE_GROWTH_BYTES, SHARDS } from './settings.js';
import { Tally } from './tally.js';

export function failures(r: SoakResult): string[] {
  const out: string[] = [];
  for (const e of r.errors) out.push(`harness: ${e}`);
  if (!r.server.aliveAfterAttack) out.push('the server process exited during the attack');
  const after = r.server.statsAfter;
  if (after === null) out.push('the server did not answer GET /api/stats after the attack');
  else {
    if ((after.main['shardFaults'] ?? 0) > 0) out.push(`${after.main['shardFaults']} shard fault(s): a shard crashed on attack input (server output: ${r.server.errorLines.find((l) => / error /.test(l)) ?? 'see errorLines'})`);
    if (after.liveShards < SHARDS) out.push(`${after.liveShards} of ${SHARDS} shards live after the attack`);
  }
  const stop = r.server.stop;
  if (stop === null || stop.code !== 0 || stop.forced) out.push(`the server did not stop cleanly on SIGTERM (${stop === null ? 'no result' : `code ${stop.code}, signal ${stop.signal}, forced ${stop.forced}`})`);

  const h = r.healthy;
  if (h === null) out.push('no healthy verdict');
  else {
    const shards = new Set(h.shards).size;
    if (shards < SHARDS) out.push(`healthy subscribers on ${shards} shard(s), need ${SHARDS}`);
    const l = h.ledger;
    if (!l.ok) {
      out.push(`healthy ledger: ${l.missing} missing, ${l.duplicates} duplicated, ${l.outOfOrder} out of order, ${l.gaps} skipped seqs, ${l.mismatched} mismatched, ${l.closedEarly.length} subscriber(s) closed by the server (${l.closedEarly.map((c) => c.code).join(', ')}); first: ${l.problems.slice(0, 3).join('; ')}`);
    }
    if (l.accepted === 0) out.push('no healthy publish was accepted');
    if (h.phases.after.accepted === 0) out.push('no healthy publish was accepted after the attack');
    if (!h.drained) out.push('the healthy subscribers had not caught up with the accepted stream within the drain time');
    const failed = h.phases.before.probesFailed + h.phases.attack.probesFailed + h.phases.after.probesFailed;
    if (failed > 0) out.push(`${failed} /healthz probe(s) failed: ${h.probeFailures.slice(0, 3).join('; ')}`);
  }

  const t = new Tally();
  t.merge(r.attack);
  if (t.unexpectedTotal > 0) {
    out.push(`${t.unexpectedTotal} unexpected answer(s) to the attack: ${Object.entries(r.attack.unexpected).map(([k, n]) => `${k} ×${n}`).join(', ')}; first: ${r.attack.samples.slice(0, 3).join(' | ')}`);
  }
  const sent = r.attack.counts['sent'] ?? {};
  const ran = (prefix: string): number => Object.entries(sent).filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);
  for (const kind of ['flood publish', 'malformed', 'raw', 'churn subscribe', 'churn connect', 'http']) {
    if (ran(kind) === 0) out.push(`attack "${kind}" never ran`);
  }

  const m = r.memory;
  if (m.baseline === 0) out.push('no memory baseline');
  else if (m.settledMs === null) out.push(`server RSS ${(m.after / 2 ** 20).toFixed(1)} MiB after the attack, above the bound ${(m.bound / 2 ** 20).toFixed(1)} MiB (baseline ${(m.baseline / 2 ** 20).toFixed(1)} MiB)`);
  if (r.plan.attackMs >= LATE_GROWTH_MIN_ATTACK_MS && m.endAttack - m.midAttack > MEMORY_LATE_GROWTH_BYTES) {
    out.push(`server RSS grew ${((m.endAttack - m.midAttack) / 2 ** 20).toFixed(1)} MiB between the middle and the end of the attack (at most ${MEMORY_LATE_GROWTH_BYTES / 2 ** 20} MiB): a leak?`);
  }
  return out;
}
