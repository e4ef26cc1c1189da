import type { SearchHit } from '@deeplens/client/clientTypes';

export type Column = { header: string; align?: 'left' | 'right'; maxWidth?: number };

/**
 * A plain-text table: a header, a rule, one line per row, columns two spaces apart. Cells
 * wider than their column's `maxWidth` are cut with an ellipsis; no trailing spaces.
 */
export function formatTable(columns: Column[], rows: string[][]): string {
  const cells = rows.map((row) => columns.map((column, i) => clip(row[i] ?? '', column.maxWidth)));
  const widths = columns.map((column, i) =>
    Math.max(width(column.header), ...cells.map((row) => width(row[i] ?? ''))),
  );
  const line = (values: string[]) =>
    values
      .map((value, i) => {
        const pad = ' '.repeat(widths[i]! - width(value));
        return columns[i]!.align === 'right' ? pad + value : value + pad;
      })
      .join('  ')
      .trimEnd();
  return [
    line(columns.map((c) => c.header)),
    line(widths.map((w) => '-'.repeat(w))),
    ...cells.map(line),
  ].join('\n');
}

/** Search hits as the `search` and `similar` commands print them. */
export function formatHitsTable(hits: SearchHit[]): string {
  return formatTable(
    [
      { header: 'rank', align: 'right' },
      { header: 'score', align: 'right' },
      { header: 'image id' },
      { header: 'filename', maxWidth: 40 },
      { header: 'tags', maxWidth: 40 },
    ],
    hits.map((hit, i) => [
      String(i + 1),
      hit.score.toFixed(4),
      hit.imageId,
      hit.filename,
      hit.tags.join(', '),
    ]),
  );
}

/** Bytes for people: 1023 B, 1.5 KiB, 12.3 MiB, 4.00 GiB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** Terminal columns a string takes: code points, control characters removed. */
function width(text: string): number {
  return [...text].length;
}

function clip(text: string, maxWidth: number | undefined): string {
  // eslint-disable-next-line no-control-regex -- a file name must not move the cursor
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '');
  if (maxWidth === undefined || width(clean) <= maxWidth) return clean;
  return [...clean].slice(0, maxWidth - 1).join('') + '…';
}
