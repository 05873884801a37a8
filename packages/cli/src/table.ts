import { printable } from './format.ts';

/**
 * Aligned text tables for people. Scripts should use `--json` instead: column widths
 * and wording here may change.
 */

export interface Column {
  header: string;
  /** Numbers and amounts read better right-aligned. */
  align?: 'left' | 'right';
}

const GAP = '  ';

/** Character count as a terminal shows it (code points, not UTF-16 units). */
function width(text: string): number {
  return [...text].length;
}

function pad(text: string, size: number, align: 'left' | 'right'): string {
  const fill = ' '.repeat(Math.max(0, size - width(text)));
  return align === 'right' ? fill + text : text + fill;
}

/**
 * Lays rows out under their headers, each column as wide as its widest cell, with no
 * trailing spaces. Cells come from the server, so control characters are made visible
 * rather than sent to the terminal.
 */
export function formatTable(columns: readonly (string | Column)[], rows: readonly (readonly string[])[]): string {
  const cols: Required<Column>[] = columns.map((c) =>
    typeof c === 'string' ? { header: c, align: 'left' } : { header: c.header, align: c.align ?? 'left' },
  );
  const cells = rows.map((row) => cols.map((_, i) => printable(row[i] ?? '')));
  const widths = cols.map((c, i) => Math.max(width(c.header), ...cells.map((row) => width(row[i] ?? ''))));
  const line = (values: readonly string[]) =>
    cols
      .map((c, i) => pad(values[i] ?? '', widths[i] ?? 0, c.align))
      .join(GAP)
      .trimEnd();
  return [line(cols.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

/** Label/value pairs, labels padded to one width: the detail view of one resource. */
export function formatDetails(pairs: readonly (readonly [string, string])[]): string {
  const labelWidth = Math.max(0, ...pairs.map(([label]) => width(label)));
  return pairs.map(([label, value]) => `${pad(label, labelWidth, 'left')}${GAP}${printable(value)}`.trimEnd()).join('\n') + '\n';
}
