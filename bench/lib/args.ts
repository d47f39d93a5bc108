/**
 * Minimal `--name value` / `--flag` parser shared by the bench entry points, so each script
 * states its options and defaults in one place without a dependency.
 */
export class Args {
  private readonly values = new Map<string, string>();

  constructor(argv: readonly string[] = process.argv.slice(2)) {
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!;
      if (!arg.startsWith('--')) throw new Error(`unexpected argument: ${arg}`);
      const eq = arg.indexOf('=');
      if (eq > 0) {
        this.values.set(arg.slice(2, eq), arg.slice(eq + 1));
      } else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) {
        this.values.set(arg.slice(2), argv[++i]!);
      } else {
        this.values.set(arg.slice(2), 'true');
      }
    }
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  str(name: string, fallback: string): string {
    return this.values.get(name) ?? fallback;
  }

  num(name: string, fallback: number): number {
    const raw = this.values.get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw.replace(/_/g, ''));
    if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got ${raw}`);
    return n;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.values.get(name);
    if (raw === undefined) return fallback;
    return raw !== 'false' && raw !== '0' && raw !== 'no';
  }

  list(name: string, fallback: readonly string[]): string[] {
    const raw = this.values.get(name);
    if (raw === undefined) return [...fallback];
    return raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  }

  /** Names given on the command line that the caller never declared; typos should fail loudly. */
  unknown(known: readonly string[]): string[] {
    return [...this.values.keys()].filter((k) => !known.includes(k));
  }
}
