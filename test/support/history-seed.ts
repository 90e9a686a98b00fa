/**
 * Rollups as a deployment's workers would have left them over the past week, written through the
 * rollup store (as the recorder writes them), for the dashboard tests and the README pictures:
 * every minute of the last day, and before that one minute in 15 holding those 15 minutes' work
 * (fewer documents, the same sums by the hour). The values follow smooth, deterministic curves,
 * so charts are reproducible.
 */
import { emptyRollup, type RollupDelta, type RollupStore } from '../../lib/store/rollup-store';

/** A queue and job type to seed, and its typical completions per minute. */
export interface SeededType {
  queue: string;
  type: string;
  perMinute: number;
  /** One failure every this many minutes (0: none). */
  failEvery?: number;
  /** Typical queue wait, ms. */
  waitMs?: number;
  /** Typical run time, ms. */
  runMs?: number;
}

const MIN = 60_000;

/** The rollup of one type in the minute `i` minutes before now, holding `span` minutes' work. */
function minuteDelta(t: SeededType, minute: number, i: number, span: number): RollupDelta {
  // A daily rhythm, with slower and faster ripples on it.
  const wave = 1 + 0.45 * Math.sin((i * 2 * Math.PI) / 1440) + 0.2 * Math.sin(i / 37);
  const completed = Math.max(0, Math.round(t.perMinute * wave * span));
  const failed = t.failEvery && i % t.failEvery === 0 ? span + (i % 3 === 0 ? 1 : 0) : 0;
  const started = completed + failed;
  const wait = Math.round((t.waitMs ?? 80) * (1 + 0.8 * Math.max(0, Math.sin(i / 17))));
  const run = Math.round((t.runMs ?? 40) * (1 + 0.3 * Math.sin(i / 5)));
  return {
    ...emptyRollup(),
    queue: t.queue,
    type: t.type,
    minute: new Date(minute),
    started,
    completed,
    failed,
    waitSumMs: started * wait,
    waitMaxMs: started > 0 ? wait * 3 : 0,
    runCount: started,
    runSumMs: started * run,
    runMaxMs: started > 0 ? run * 2 : 0,
  };
}

/**
 * Writes a week of rollups up to the minute holding `now` (live work adds to that one). Returns
 * the number of documents written.
 */
export async function seedHistory(
  store: RollupStore,
  now: Date,
  types: SeededType[],
): Promise<number> {
  const current = now.getTime() - (now.getTime() % MIN);
  const deltas: RollupDelta[] = [];
  for (let i = 0; i < 7 * 24 * 60; i++) {
    const span = i <= 24 * 60 ? 1 : 15;
    if (i % span !== 0) continue;
    for (const t of types) deltas.push(minuteDelta(t, current - i * MIN, i, span));
  }
  for (let k = 0; k < deltas.length; k += 1000) {
    await store.rollupAdd({ deltas: deltas.slice(k, k + 1000), retentionMs: 8 * 86_400_000 });
  }
  return deltas.length;
}
