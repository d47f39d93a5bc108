/** A Prometheus text exposition parsed into samples, and the metric families (HELP/TYPE) it declares. */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  /** Family name → type (counter, gauge, histogram). */
  families: Map<string, string>;
  samples: Sample[];
}

export function parseScrape(text: string): Scrape {
  const families = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) families.set(type[1]!, type[2]!);
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const kv of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[kv[1]!] = kv[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { families, samples };
}

/** The family a sample belongs to (a histogram's _bucket, _sum and _count lines belong to it). */
export function familyOf(s: Scrape, sample: string): string {
  if (s.families.has(sample)) return sample;
  const base = sample.replace(/_(bucket|sum|count)$/, '');
  if (s.families.get(base) === 'histogram') return base;
  throw new Error(`sample ${sample} of no declared family`);
}

/** The sum of a family's samples whose labels include `match`. */
export function sum(s: Scrape, name: string, match: Record<string, string> = {}): number {
  return s.samples.filter((x) => x.name === name && Object.entries(match).every(([k, v]) => x.labels[k] === v)).reduce((a, x) => a + x.value, 0);
}
