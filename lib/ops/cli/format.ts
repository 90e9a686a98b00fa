/**
 * Parsing of the CLI's durations and times, and the aligned tables of its human output.
 */
import { InvalidArgumentError } from '../../errors';
import { checkDate, describe } from '../../validate';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;

/** Milliseconds of a duration such as `14d`, `90s`, `1h30m` or `500ms`. */
export function parseDuration(text: string, what = 'duration'): number {
  if (!DURATION.test(text)) {
    throw new InvalidArgumentError(
      `invalid ${what} ${describe(text)}: use a number with a unit (ms, s, m, h, d, w), e.g. 14d`,
    );
  }
  let ms = 0;
  for (const [, n, unit] of text.matchAll(PART)) ms += Number(n) * UNIT_MS[unit];
  return Math.round(ms);
}

/** A time given as an ISO date (`2024-05-01`, `2024-05-01T12:00:00Z`) or as a duration ago. */
export function parseTime(text: string, what: string, now = Date.now()): Date {
  if (DURATION.test(text)) return new Date(now - parseDuration(text, what));
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) {
    throw new InvalidArgumentError(
      `invalid ${what} ${describe(text)}: use an ISO date or a duration ago, e.g. 2h`,
    );
  }
  return checkDate(what, new Date(text));
}

/** A compact duration for humans: `850ms`, `12.3s`, `4m05s`, `3h20m`, `2d04h`. */
export function formatDuration(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d${pad(Math.floor((s % 86_400) / 3600))}h`;
}

/** A time as ISO 8601 without milliseconds, or `-`. */
export function formatTime(date: Date | null | undefined): string {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) return '-';
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Cuts text to `max` characters on one line. */
export function clip(text: string, max: number): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** Column alignment of a table. */
export type Align = 'left' | 'right';

/** An aligned table: a header row and rows, columns two spaces apart. */
export function table(header: string[], rows: string[][], align: Align[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (align[i] === 'right' ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Two aligned columns: `key  value`. */
export function keyValues(pairs: [string, string][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}
