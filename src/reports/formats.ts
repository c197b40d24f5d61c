/**
 * Rows written out as CSV (RFC 4180: a header row, CRLF line ends, a field quoted when it holds a comma, a quote or
 * a line break, quotes doubled) or NDJSON (one JSON object per line, keyed by the same column names). Both are
 * generators of text chunks of about CHUNK_CHARS, so a report of any length is written without ever being one
 * string, and a slow reader holds back the writer (the route pipes them with backpressure).
 */
import type { Cell } from './rows.ts';

export type ReportFormat = 'csv' | 'ndjson';

export const CONTENT_TYPES: Record<ReportFormat, string> = {
  csv: 'text/csv; charset=utf-8; header=present',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

const CHUNK_CHARS = 16 * 1024;

/**
 * A text cell that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`) or that starts with a tab or a
 * carriage return gets a leading `'` (the contract's rule, OWASP's CSV-injection advice). Numbers and booleans are
 * written as they are (a negative number stays a number); NDJSON carries every value raw.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

export function csvField(cell: Cell): string {
  if (cell === null) return '';
  const text = typeof cell === 'string' && FORMULA_START.test(cell) ? `'${cell}` : String(cell);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvLine(cells: readonly Cell[]): string {
  return `${cells.map(csvField).join(',')}\r\n`;
}

function ndjsonLine(columns: readonly string[], cells: readonly Cell[]): string {
  const row: Record<string, Cell> = {};
  columns.forEach((column, i) => {
    row[column] = cells[i] ?? null;
  });
  return `${JSON.stringify(row)}\n`;
}

export function* reportChunks(
  format: ReportFormat,
  columns: readonly string[],
  rows: Iterable<readonly Cell[]>,
): Generator<string> {
  let chunk = format === 'csv' && columns.length > 0 ? csvLine(columns) : '';
  for (const cells of rows) {
    chunk += format === 'csv' ? csvLine(cells) : ndjsonLine(columns, cells);
    if (chunk.length >= CHUNK_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk !== '') yield chunk;
}
