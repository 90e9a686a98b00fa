/**
 * The readable outcome of a time-range request, as the backfill seed shows it to users:
 * "backfill of <name> for <earliest> to <latest> completed in N minutes".
 */
import type {
  TimeRangeCounts,
  TimeRangeRequestDocument,
  TimeRangeState,
} from '../store/request-store';
import type { TimeRangeChunkJob } from './time-range-job';

/** A time as `YYYY-MM-DD HH:MM:SS` (UTC). */
export function formatTime(d: Date): string {
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

/** A duration in whole minutes, e.g. `1 minute`, `12 minutes`. */
export function formatMinutes(ms: number): string {
  const n = Math.round(ms / 60_000);
  return `${n} minute${n === 1 ? '' : 's'}`;
}

/** The message of a request that reached `state`. */
export function requestMessage(params: {
  label: string;
  doc: Pick<TimeRangeRequestDocument, 'name' | 'earliest' | 'latest' | 'total'>;
  state: TimeRangeState;
  counts: TimeRangeCounts;
  durationMs: number;
  /** The chunk whose failure ended the request, when known. */
  failedChunk?: TimeRangeChunkJob;
}): string {
  const { doc, counts } = params;
  const what = `${params.label} of ${doc.name} for ${formatTime(doc.earliest)} to ${formatTime(doc.latest)}`;
  switch (params.state) {
    case 'done': {
      const failed = counts.failed > 0 ? ` (${counts.failed} of ${doc.total} chunks failed)` : '';
      return `${what} completed in ${formatMinutes(params.durationMs)}${failed}`;
    }
    case 'failed': {
      const c = params.failedChunk;
      if (!c) return `${what} failed: ${counts.failed} of ${doc.total} chunks failed`;
      const range = c.range();
      const why = c.error()?.message ?? 'no detail';
      return (
        `${what} failed: chunk ${c.chunk} of ${c.total} ` +
        `(${formatTime(range.earliest)} to ${formatTime(range.latest)}) failed: ${why}`
      );
    }
    case 'cancelled':
      return `${what} cancelled after ${counts.done} of ${doc.total} chunks`;
    default:
      return `${what} is ${params.state}`;
  }
}
