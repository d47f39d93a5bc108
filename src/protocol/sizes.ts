/**
 * Byte sizes as people write them on a command line or in an environment variable: a whole
 * number of bytes with an optional binary unit, `k`/`m`/`g` (KiB, MiB, GiB), either case —
 * "65536", "64k", "1M". Nothing else ("64kb", "1.5m", "-1"): a size is exact or refused.
 * The server's options and the bench client's flags both read sizes this way.
 */
const UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** The size `text` names in bytes, or NaN when it names none. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+)([kmg]?)\s*$/i.exec(text);
  if (m === null) return NaN;
  return Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
}
