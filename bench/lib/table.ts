/** A small table rendered either for the terminal (aligned) or as GitHub markdown. */
export interface Table {
  headers: string[];
  rows: string[][];
}

const numeric = /^[-+]?[\d,.]+(\s?[%×x]|\s?ms|\s?s)?( \([\d.,]+×\))?$|^—$|^n\/a$/;

export function renderText(t: Table): string {
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (numeric.test(c) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(t.headers), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line)].join('\n');
}

export function renderMarkdown(t: Table): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  const align = t.headers.map((_, i) => (t.rows.length > 0 && t.rows.every((r) => numeric.test(r[i] ?? '')) ? '---:' : '---'));
  return [
    `| ${t.headers.map(esc).join(' | ')} |`,
    `| ${align.join(' | ')} |`,
    ...t.rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}
