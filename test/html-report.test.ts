/**
 * `shardcast bench --html`: the page is one complete, self-contained document; report strings
 * (which can carry server-supplied text) only ever appear escaped; the charts carry one point
 * per sample; problems are flagged red and nothing else is.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderHtml } from '../src/bench/html-report.js';
import { esc, fmtBytes, fmtInt, fmtMs, fmtPct, niceTicks } from '../src/bench/html-charts.js';
import type { BenchReport } from '../src/bench/report.js';
import { HOSTILE, HOSTILE_QUOTE, emptyReport, hostileReport, sampleReport } from './fixtures/bench-report.js';

/** Every element the renderer is meant to emit; anything else would be injected markup. */
const ALLOWED_TAGS = new Set([
  'html', 'head', 'meta', 'title', 'style', 'body', 'main', 'header', 'footer', 'section', 'div', 'span', 'h1', 'h2', 'h3', 'p',
  'ul', 'li', 'dl', 'dt', 'dd', 'code', 'table', 'tr', 'th', 'td', 'figure', 'figcaption',
  'svg', 'g', 'line', 'rect', 'text', 'polyline', 'polygon', 'circle',
]);

interface Tag { readonly name: string; readonly attrs: ReadonlyMap<string, string> }

/** Start tags with their attributes (a small scanner, enough for the markup renderHtml writes). */
function startTags(html: string): Tag[] {
  const tags: Tag[] = [];
  const tagRe = /<([a-zA-Z][\w-]*)((?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?)*)\s*\/?>/g;
  for (const m of html.matchAll(tagRe)) {
    const attrs = new Map<string, string>();
    for (const a of m[2]!.matchAll(/([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
      attrs.set(a[1]!.toLowerCase(), a[2] ?? a[3] ?? a[4] ?? '');
    }
    tags.push({ name: m[1]!.toLowerCase(), attrs });
  }
  return tags;
}

const seriesPoints = (html: string, id: string): Array<[number, number]> => {
  const tag = startTags(html).find((t) => t.name === 'polyline' && t.attrs.get('data-series') === id);
  assert.ok(tag, `a polyline for ${id}`);
  return tag.attrs.get('points')!.trim().split(/\s+/).map((p) => p.split(',').map(Number) as [number, number]);
};

const classesOf = (html: string): string[] => startTags(html).flatMap((t) => (t.attrs.get('class') ?? '').split(/\s+/));
const card = (html: string, metric: string): Tag => {
  const tag = startTags(html).find((t) => t.attrs.get('data-metric') === metric);
  assert.ok(tag, `a card for ${metric}`);
  return tag;
};

function assertDocument(html: string): void {
  assert.match(html, /^<!DOCTYPE html>\s*<html lang="en"><head><meta charset="utf-8">/);
  assert.match(html, /<title>[^<]+<\/title>/);
  assert.match(html, /<\/main><\/body><\/html>\s*$/);
  assert.equal((html.match(/<svg /g) ?? []).length, (html.match(/<\/svg>/g) ?? []).length, 'every <svg> closed');
  assert.doesNotMatch(html, /NaN|Infinity|undefined|\[object /, 'no unformatted values');
}

function assertSelfContained(html: string): void {
  const tags = startTags(html);
  const closing = [...html.matchAll(/<\/([a-zA-Z][\w-]*)/g)].map((m) => m[1]!.toLowerCase());
  const unexpected = [...tags.map((t) => t.name), ...closing].filter((n) => !ALLOWED_TAGS.has(n));
  assert.deepEqual(unexpected, [], 'only the elements the renderer writes');
  assert.equal((html.match(/</g) ?? []).length, tags.length + closing.length + 1, 'every "<" starts a known tag (+ the doctype)');
  assert.doesNotMatch(html, /<script|<link|<img|<iframe|<object|<embed|<base/i);
  for (const t of tags) {
    for (const [name, value] of t.attrs) {
      assert.ok(!name.startsWith('on'), `no event handler attribute: <${t.name} ${name}>`);
      assert.ok(!['src', 'href', 'xlink:href', 'srcset', 'action', 'style'].includes(name), `no ${name} attribute on <${t.name}>`);
      assert.doesNotMatch(value, /url\(|javascript:/i);
    }
  }
  const css = html.match(/<style>([\s\S]*?)<\/style>/)![1]!;
  assert.doesNotMatch(css, /url\(|@import|@font-face|https?:/i, 'CSS loads nothing');
  assert.equal((html.match(/<style>/g) ?? []).length, 1, 'one stylesheet, inline');
}

test('a normal run renders a complete, self-contained page', () => {
  const report = sampleReport();
  const html = renderHtml(report);
  assertDocument(html);
  assertSelfContained(html);
  assert.doesNotMatch(html, /https?:\/\//, 'no http(s) references at all (SVG inline needs no xmlns)');
  for (const text of ['ws://127.0.0.1:8080/ws', '2025-03-14 09:26:53 UTC', 'AMD EPYC 7B13', '10,000', '1,000 msg/s', '256 B', '30 s',
    '3,000,000', '99,874', '64 GiB', 'completed', '237 µs', '+50.3 MiB']) {
    assert.ok(html.includes(esc(text)), `shows ${text}`);
  }
  assert.ok(!html.includes('class="warnings"'), 'no warnings box without warnings');
});

test('charts: one SVG per chart, one point per sample, labelled axes', () => {
  const report = sampleReport();
  const html = renderHtml(report);
  assert.equal((html.match(/<svg /g) ?? []).length, 5);
  assert.equal(seriesPoints(html, 'latency-percentiles').length, report.latency.curve.length);
  for (const id of ['deliveries-per-second', 'p99-per-second', 'publishes-per-second', 'open-connections']) {
    const pts = seriesPoints(html, id);
    assert.equal(pts.length, report.timeline.length, `${id}: a point per second`);
    assert.ok(pts.every(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && x >= 0 && y >= 0), `${id}: finite, inside the viewBox`);
    assert.ok(pts.every(([x], i) => i === 0 || x > pts[i - 1]![0]), `${id}: x increases with t`);
  }
  for (const label of ['percentile (log scale', 'latency (ms)', 'seconds since first publish', 'deliveries / s', 'p99 (ms)',
    'publishes / s', '>connections<', '>ramp<']) {
    assert.ok(html.includes(label), `axis label ${label}`);
  }
  // the nines axis: 0, 90, 99, 99.9 … up to the last finite percentile; p100 (max) pinned to the right edge
  for (const tick of ['>0%<', '>90%<', '>99%<', '>99.9%<', '>99.99%<', '>99.999%<']) assert.ok(html.includes(tick), `tick ${tick}`);
  assert.ok(!html.includes('>99.9999%<'));
  const lat = seriesPoints(html, 'latency-percentiles');
  assert.equal(lat.at(-1)![0], lat.at(-2)![0], 'p100 drawn at the right edge, where p99.999 is');
  assert.ok(lat.every(([x], i) => i === 0 || x >= lat[i - 1]![0]), 'percentile x never goes backwards');
  for (const m of ['p50 ', 'p99 ', 'p99.9 ']) assert.ok(html.includes(`>${m}`), `marker ${m}`);
});

test('flags: red when something was lost, duplicated or failed; never when all zero', () => {
  const clean = renderHtml(sampleReport());
  assert.ok(!classesOf(clean).includes('flag-bad'), 'a clean run has no red flags');
  assert.ok((card(clean, 'lost').attrs.get('class') ?? '').includes('flag-ok'));
  const zero = renderHtml(emptyReport());
  assert.ok(!classesOf(zero).includes('flag-bad'), 'an all-zero run has no red flags');

  const lossy: BenchReport = { ...sampleReport(), deliveries: { ...sampleReport().deliveries, lost: 1, delivered: 2_999_999 } };
  const html = renderHtml(lossy);
  assert.deepEqual((card(html, 'lost').attrs.get('class') ?? '').split(' ').sort(), ['card', 'flag-bad']);
  assert.ok(!(card(html, 'duplicated').attrs.get('class') ?? '').includes('flag-bad'));
  assert.ok(html.includes('&lt;0.001% of expected'), 'a tiny loss is not rounded to 0%');

  const bad = renderHtml(hostileReport());
  for (const m of ['lost', 'duplicated', 'seq-gaps', 'connections-failed']) {
    assert.ok((card(bad, m).attrs.get('class') ?? '').includes('flag-bad'), `${m} flagged`);
  }
  assert.ok(!(card(bad, 'out-of-order').attrs.get('class') ?? '').includes('flag-bad'), 'zero out-of-order stays unflagged');
  assert.ok(bad.includes('The load generator was the bottleneck'), 'saturated client called out');
});

test('hostile strings from the report appear only escaped', () => {
  const html = renderHtml(hostileReport());
  assertDocument(html);
  assertSelfContained(html);
  assert.ok(!html.includes(HOSTILE), 'raw markup never appears');
  assert.ok(!html.includes('<b>'), 'no injected bold');
  assert.ok(!html.includes(HOSTILE_QUOTE), 'quotes escaped');
  assert.ok(!html.includes('onerror=alert(1)>'));
  const escaped = esc(HOSTILE);
  assert.equal(escaped, '&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;');
  // warning, command, url, failure reason, refused reason, server counter
  assert.ok(html.split(escaped).length - 1 >= 6, 'each hostile string is still shown, escaped');
  assert.ok(html.includes(esc(HOSTILE_QUOTE)));
  assert.ok(html.includes('run cut short &amp; &lt;retried&gt;'));
  assert.match(html, /class="warnings" role="alert"><h2>⚠ 3 warnings<\/h2>/);
  assert.ok(html.includes('HTTP 503 &lt;style&gt;'));
});

test('an empty run (no samples, no timeline, no server) still renders cleanly', () => {
  const html = renderHtml(emptyReport());
  assertDocument(html);
  assertSelfContained(html);
  assert.equal((html.match(/<svg /g) ?? []).length, 5, 'the charts keep their axes');
  assert.equal((html.match(/<polyline/g) ?? []).length, 0);
  assert.equal(html.split('No timeline samples').length - 1, 4);
  assert.ok(html.includes('No latency samples'));
  assert.ok(html.includes('Not measured'));
  assert.ok(html.includes('In flight (closed loop)') && !html.includes('Rate (open loop)'));
  for (const m of ['p50', 'p99', 'p999']) {
    assert.match(html, new RegExp(`data-metric="${m}">(?:(?!</div></div>).)*class="value"[^>]*>—<`), `no ${m}: shown as —, not 0 ms`);
  }
  assert.ok(html.includes('outcome-aborted'));
});

test('edge cases: one sample, a one-point curve, huge and non-finite values', () => {
  const s = sampleReport();
  const one: BenchReport = {
    ...s,
    timeline: [{ t: 0, open: 1, deliveriesPerSecond: 5, publishesPerSecond: 5, p99: 0.4 }],
    latency: { ...s.latency, samples: 1, curve: [[100, 0.4]] },
  };
  const html1 = renderHtml(one);
  assertDocument(html1);
  assert.equal(seriesPoints(html1, 'open-connections').length, 1);
  assert.equal(seriesPoints(html1, 'latency-percentiles').length, 1);
  assert.match(html1, /<g class="dot"[^>]*><circle /, 'a lone point gets a visible dot');

  const huge: BenchReport = {
    ...s,
    deliveries: { ...s.deliveries, expected: 9e15, delivered: 9e15, perSecond: 3.2e14 },
    latency: { ...s.latency, p50: 1e9, p99: 2e12, p999: 3e12, max: 4e12, curve: [[0, 1e9], [50, 1e9], [99, 2e12], [100, 4e12]] },
    timeline: s.timeline.map((x) => ({ ...x, deliveriesPerSecond: x.deliveriesPerSecond * 1e9, open: x.open * 1e6 })),
    connections: { ...s.connections, attempted: Number.NaN, connectRate: Number.POSITIVE_INFINITY },
  };
  const html2 = renderHtml(huge);
  assertDocument(html2);
  assertSelfContained(html2);
  assert.ok(html2.includes('9,000,000,000,000,000'), 'huge counts keep their separators');
  assert.ok(!/\de[+-]?\d/.test(html2.replace(/<style>[\s\S]*?<\/style>/, '')), 'no exponent notation');
  assert.match(html2, />\d+(\.\d+)?[kMGTP]</, 'axis ticks use SI suffixes');
  assert.ok(html2.includes('class="value" title="320,000,000,000,000">320T<'), 'a huge card value is shortened, exact on hover');
  assert.ok(seriesPoints(html2, 'deliveries-per-second').every(([x, y]) => x >= 0 && x <= 560 && y >= 0 && y <= 250));
});

test('formatting helpers', () => {
  assert.equal(fmtInt(1234567.4), '1,234,567');
  assert.equal(fmtInt(Number.NaN), '—');
  assert.equal(fmtMs(0.85), '850 µs');
  assert.equal(fmtMs(12.345), '12.3 ms');
  assert.equal(fmtMs(4500), '4.5 s');
  assert.equal(fmtMs(0), '0 ms');
  assert.equal(fmtBytes(64 * 1024 ** 3), '64 GiB');
  assert.equal(fmtBytes(256), '256 B');
  assert.equal(fmtPct(1, 3_000_000), '<0.001%');
  assert.equal(fmtPct(0, 0), '—');
  assert.deepEqual(niceTicks(0, 97, 5, true), [0, 20, 40, 60, 80, 100]);
  assert.deepEqual(niceTicks(-10, 30, 5), [-10, 0, 10, 20, 30]);
  assert.equal(esc(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});
