/** Plain-text tables, PASS/MISS verdicts and the list of targets checked. */

export interface Verdict {
  target: string;
  value: string;
  pass: boolean;
}

export const verdicts: Verdict[] = [];

/** Records a target check and returns its PASS/MISS cell. */
export function check(target: string, value: string, pass: boolean): string {
  verdicts.push({ target, value, pass });
  return pass ? 'PASS' : 'MISS';
}

/** Fixed-point with thousands separators; '-' for a missing figure. */
export function num(x: number | undefined, digits = 1): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  return x.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a / b) || b === 0) return '-';
  return `${num(a / b, a / b >= 100 ? 0 : 2)}x`;
}

export function heading(text: string): void {
  console.log(`\n== ${text}`);
}

export function table(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  console.log(line(headers));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

export function note(text: string): void {
  console.log(`   ${text}`);
}
