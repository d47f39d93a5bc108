/**
 * The adversarial run (bench/soak/), short: a real server with two shards in a child process,
 * attacked for about 12 s from worker threads — publish floods of random sizes, malformed
 * frames (binary noise, invalid UTF-8, JSON nested 100,000 deep and as deep as fits, numbers
 * of 30,000 digits, huge ids and channel names, unknown types, prototype-pollution keys),
 * WebSocket protocol violations, subscribe/unsubscribe churn over never-repeating channels,
 * connection churn, and HTTP abuse (bad bodies, wrong keys, bodies above the limit, slow
 * bodies, oversized headers, garbage) — while healthy subscribers on both shards receive a
 * steady stream from their own thread. `npm run soak` is the same run, longer.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HealthyLedger } from '../bench/soak/ledger.js';
import { shortPlan } from '../bench/soak/plans.js';
import { mib, runSoak } from '../bench/soak/run.js';
import { summary } from '../bench/soak/summary.js';
import { failures } from '../bench/soak/verdict.js';

describe('the healthy ledger', () => {
  test('passes a stream received once and in order, even with a seq whose publish answer was lost', () => {
    const l = new HealthyLedger(['a']);
    l.subscribed(0, 'a', 0);
    for (const [seq, n] of [[1, 10], [2, 11], [4, 13]]) l.accept('a', seq!, n!);
    for (const [seq, n] of [[1, 10], [2, 11], [3, 12], [4, 13]]) l.receive(0, 'a', seq!, n!);
    const v = l.verdict();
    assert.equal(v.ok, true, v.problems.join('; '));
    assert.equal(v.unconfirmed, 1);
    assert.equal(v.delivered, 4);
  });

  test('catches a lost, a duplicated, a reordered and a changed message, and a subscriber closed early', () => {
    const l = new HealthyLedger(['a']);
    for (const sub of [0, 1]) l.subscribed(sub, 'a', 0);
    for (let seq = 1; seq <= 5; seq++) l.accept('a', seq, 100 + seq);
    // subscriber 0: 2 lost, 3 twice, 5 before 4, 4 carrying another message's data
    for (const [seq, n] of [[1, 101], [3, 103], [3, 103], [5, 105], [4, 999]]) l.receive(0, 'a', seq!, n!);
    // subscriber 1: everything, then closed by the server
    for (let seq = 1; seq <= 5; seq++) l.receive(1, 'a', seq, 100 + seq);
    l.closedEarly(1, 1011);
    const v = l.verdict();
    assert.equal(v.ok, false);
    assert.deepEqual(
      { missing: v.missing, duplicates: v.duplicates, outOfOrder: v.outOfOrder, gaps: v.gaps, mismatched: v.mismatched, closed: v.closedEarly },
      { missing: 1, duplicates: 1, outOfOrder: 1, gaps: 2, mismatched: 1, closed: [{ subscriber: 1, code: 1011 }] },
    );
    assert.equal(l.caughtUp(), true);
  });
});

describe('an adversarial run against a two-shard server', () => {
  test('the server never exits, keeps answering, delivers every accepted healthy message once and in order, and its memory comes back', { timeout: 120_000 }, async (t) => {
    const result = await runSoak(shortPlan(1));
    const problems = failures(result);
    const sent = result.attack.counts['sent'] ?? {};
    t.diagnostic(`attack: ${sent['flood publish'] ?? 0} flood publishes, ${sent['churn subscribe'] ?? 0} churn subscribes; `
      + `healthy: ${result.healthy?.ledger.accepted ?? 0} accepted, ${result.healthy?.ledger.delivered ?? 0} delivered; `
      + `RSS ${mib(result.memory.baseline)} → peak ${mib(result.memory.peak)} → ${mib(result.memory.after)} (bound ${mib(result.memory.bound)}); ${result.seconds.toFixed(0)} s`);
    assert.deepEqual(problems, [], `\n${summary(result)}\n`);
  });
});
