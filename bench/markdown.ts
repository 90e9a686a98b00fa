/** Markdown helpers of the benchmark's report. */
import type { BenchResults } from './results';

/** A figure for a table: grouped thousands, `digits` decimals, `–` when there is none. */
export function num(v: number | undefined, digits = 0): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  return v.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** A Markdown table. */
export function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The short name of a server of the results, by id. */
export function serverName(results: BenchResults, id: string): string {
  // `memory`: drover's in-memory store in the lean workload (no server at all).
  if (id === 'memory') return 'in-memory store';
  return results.meta.servers.find((s) => s.id === id)?.name ?? id;
}
