/**
 * Tally — counts by group and key ("sent" / "flood", "answer" / "error:overloaded", "close" /
 * "1006"…), plus a few samples of anything unexpected. Each thread keeps its own and posts
 * it as plain data at the end; the orchestrator merges them.
 */

export interface TallyData {
  counts: Record<string, Record<string, number>>;
  /** Unexpected answers, by description, with the first few occurrences spelled out. */
  unexpected: Record<string, number>;
  samples: string[];
}

const MAX_SAMPLES = 20;

export class Tally {
  readonly data: TallyData = { counts: {}, unexpected: {}, samples: [] };

  add(group: string, key: string, n = 1): void {
    const g = (this.data.counts[group] ??= {});
    g[key] = (g[key] ?? 0) + n;
  }

  get(group: string, key: string): number {
    return this.data.counts[group]?.[key] ?? 0;
  }

  total(group: string): number {
    return Object.values(this.data.counts[group] ?? {}).reduce((a, b) => a + b, 0);
  }

  /** Something the server must not do (a crash close, an `internal` error, no answer): a failure of the run. */
  unexpected(what: string, detail: string): void {
    this.data.unexpected[what] = (this.data.unexpected[what] ?? 0) + 1;
    if (this.data.samples.length < MAX_SAMPLES) this.data.samples.push(`${what}: ${detail.slice(0, 300)}`);
  }

  merge(other: TallyData): void {
    for (const [group, keys] of Object.entries(other.counts)) for (const [k, n] of Object.entries(keys)) this.add(group, k, n);
    for (const [k, n] of Object.entries(other.unexpected)) this.data.unexpected[k] = (this.data.unexpected[k] ?? 0) + n;
    for (const s of other.samples) if (this.data.samples.length < MAX_SAMPLES) this.data.samples.push(s);
  }

  get unexpectedTotal(): number {
    return Object.values(this.data.unexpected).reduce((a, b) => a + b, 0);
  }
}
