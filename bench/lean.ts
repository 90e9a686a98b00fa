/**
 * The lean workload (issue 13): what one job costs, per system, with the figures a leaner hot
 * path is judged by.
 *
 * - **burn**: one worker process at concurrency `--lean-conc` (64) drains `--lean-warmup` (1,000)
 *   + N (5,000) no-op jobs put beforehand; its meter restarts after the warm-up ('mark'), so the
 *   figures are those of a warm worker: client CPU µs per job (`process.cpuUsage` of the worker),
 *   round trips and bytes on the wire per job (both directions, counted by the wire proxy, a
 *   separate process every measured client connects through).
 * - **put**: `--single-puts` (1,000) single puts awaited one by one in this process, after 100
 *   unmeasured ones: CPU, round trips and bytes per put.
 * - **index keys** (MongoDB systems): a probe puts `--lean-probe` (50) jobs one by one and runs
 *   them at the same concurrency while the driver's command monitoring records every write; the
 *   writes are replayed on a scratch database and the keys each costs are counted from the
 *   collections' own index definitions (bench/write-capture.ts, bench/index-keys.ts).
 * - drover also runs burn and put on its in-memory store (server `memory`; the worker fills its
 *   own store, as no other process can reach it): CPU only.
 */
import { agendaTuningOf, jobData, sleep, targetOf, type BenchContext } from './context';
import { LEAN_PUT_WARM_UP } from './options';
import { clientTap, epochMs, meter, type MeterSnapshot } from './meter';
import type { IndexKeysResult, LeanResult } from './results';
import { DRIVERS, type SystemName, type Target } from './systems';
import { fill } from './throughput';
import { bytesBetween, type WireCount, type WireProxy } from './wire-proxy';
import { forkWorkers } from './workers';
import {
  addKeys,
  indexDefinitions,
  replayKeys,
  WriteCapture,
  type CollectionKeys,
} from './write-capture';

/** `server` of the in-memory store's figures. */
export const MEMORY_SERVER = 'memory';
const WAIT_POLL_MS = 10;
/** A burn-down with no new outcome for this long is measured up to its last one. */
const STALL_MS = 15_000;

/** Where a lane's measured clients connect: through the wire proxy, with its listener's id. */
async function proxied(
  ctx: BenchContext,
  target: Target,
  wire: WireProxy | undefined,
): Promise<{ target: Target; wireId?: string }> {
  if (target.memory || !wire) return { target };
  if (target.system === 'bullmq') {
    if (!ctx.redis) return { target };
    const port = await wire.port('redis', ctx.redis.host, ctx.redis.port);
    return { target: { ...target, redis: { host: '127.0.0.1', port } }, wireId: 'redis' };
  }
  const mongoUri = await wire.mongoUri(ctx.server, ctx.mongoUri);
  return { target: { ...target, mongoUri }, wireId: ctx.server };
}

async function readWire(wire: WireProxy | undefined): Promise<Record<string, WireCount>> {
  return wire ? wire.read() : {};
}

function leanRow(
  ctx: BenchContext,
  system: SystemName,
  phase: LeanResult['phase'],
  conc: number,
): LeanResult {
  return {
    system,
    server: ctx.server,
    phase,
    conc,
    jobs: 0,
    jobsPerSec: NaN,
    cpuUsPerJob: NaN,
    roundTripsPerJob: NaN,
    timedOut: false,
    errors: [],
  };
}

function setBytes(
  row: LeanResult,
  wireId: string | undefined,
  before: Record<string, WireCount>,
  after: Record<string, WireCount>,
): void {
  if (!wireId || row.jobs === 0) return;
  const bytes = bytesBetween(before, after, wireId);
  row.bytesUpPerJob = bytes.up / row.jobs;
  row.bytesDownPerJob = bytes.down / row.jobs;
}

/** Single puts, awaited one by one, measured in this process. */
async function leanPut(
  ctx: BenchContext,
  system: SystemName,
  target: Target,
  wire: WireProxy | undefined,
): Promise<LeanResult> {
  const row = leanRow(ctx, system, 'put', 1);
  const via = await proxied(ctx, target, wire);
  const producer = await DRIVERS[system].producer(via.target);
  try {
    let seq = 0;
    const warmUp = Math.min(LEAN_PUT_WARM_UP, ctx.opts.singlePuts);
    for (let i = 0; i < warmUp; i++) await producer.put(jobData(seq++, 0));
    const before = await readWire(wire);
    meter.reset();
    for (let i = 0; i < ctx.opts.singlePuts; i++) await producer.put(jobData(seq++, 0));
    const snap = meter.snapshot();
    const after = await readWire(wire);
    row.jobs = ctx.opts.singlePuts;
    row.jobsPerSec = (row.jobs / snap.wallMs) * 1000;
    row.cpuUsPerJob = (snap.cpuUserUs + snap.cpuSystemUs) / row.jobs;
    row.roundTripsPerJob = snap.roundTrips / row.jobs;
    setBytes(row, via.wireId, before, after);
  } finally {
    await producer.close();
  }
  return row;
}

/** `p`'s value, or undefined when it rejects or the deadline (epoch ms) comes first. */
async function raceDeadline<T>(p: Promise<T>, deadline: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([p.catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The end of a measured window: a progress message and the wire read when it came. */
interface WindowEnd {
  finals: number;
  meter: MeterSnapshot;
  at: number;
  wire: Promise<Record<string, WireCount>>;
}

/**
 * The warm burn-down: one worker, warm-up unmeasured, then N jobs measured. The window ends at
 * the progress message that reported the last outcome (or the last progress before a stall of
 * STALL_MS or the deadline): what the worker did after it is not in the figures.
 */
async function leanBurn(
  ctx: BenchContext,
  system: SystemName,
  target: Target,
  wire: WireProxy | undefined,
): Promise<LeanResult> {
  const { n, leanWarmup: warm, leanConc: conc } = ctx.opts;
  const row = leanRow(ctx, system, 'burn', conc);
  if (!target.memory) await fill(ctx, target, warm + n, 0);
  const via = await proxied(ctx, target, wire);
  let end: WindowEnd | undefined;
  const [worker] = await forkWorkers(
    1,
    {
      system,
      target: via.target,
      concurrency: conc,
      reportEach: false,
      agenda: agendaTuningOf(ctx.opts),
      selfFill: target.memory ? warm + n : undefined,
      markAt: warm > 0 ? warm : undefined,
      progressMeter: true,
    },
    (msg) => {
      // Outcomes after the mark only: the meter restarted at the warm-up's last one.
      if (msg.kind !== 'progress' || !msg.meter || msg.finals <= warm) return;
      end = { finals: msg.finals, meter: msg.meter, at: epochMs(), wire: readWire(wire) };
    },
  );
  try {
    const deadline = Date.now() + ctx.opts.leanTimeoutS * 1000;
    let before = await readWire(wire);
    let t0 = epochMs();
    worker.go();
    if (warm > 0) {
      // The worker restarts its meter in the handler of the warm-up's last outcome; the wire is
      // read when it says so (an IPC hop later: a few jobs' bytes at most fall outside).
      const at = await raceDeadline(worker.whenMarked(), deadline);
      if (at === undefined) {
        row.timedOut = true;
        row.errors.push(`warm-up not done: ${worker.finals}/${warm}`);
        return row;
      }
      before = await readWire(wire);
      t0 = at;
    }
    let seen = 0;
    let lastChange = Date.now();
    let why = '';
    while (worker.finals < warm + n && !worker.exited) {
      if (worker.finals !== seen) [seen, lastChange] = [worker.finals, Date.now()];
      if (Date.now() - lastChange > STALL_MS) {
        why = `no outcome for ${STALL_MS / 1000} s`;
        row.stalled = true;
      }
      if (Date.now() >= deadline) why = `--lean-timeout ${ctx.opts.leanTimeoutS} s reached`;
      if (why) break;
      await sleep(WAIT_POLL_MS);
    }
    row.timedOut = worker.finals < warm + n;
    if (row.timedOut) {
      row.errors.push(`${why || 'the worker exited'} at ${worker.finals - warm}/${n}`);
    }
    await worker.stop();
    row.errors.push(...worker.errors.slice(0, 3));
    const last = end as WindowEnd | undefined;
    if (!last) {
      row.errors.push('no progress after the warm-up');
      return row;
    }
    row.jobs = last.finals - warm;
    row.jobsPerSec = (row.jobs / (last.at - t0)) * 1000;
    row.cpuUsPerJob = (last.meter.cpuUserUs + last.meter.cpuSystemUs) / row.jobs;
    row.roundTripsPerJob = last.meter.roundTrips / row.jobs;
    setBytes(row, via.wireId, before, await last.wire);
  } finally {
    await worker.stop();
  }
  return row;
}

/** The index-key probe: K jobs put one by one, then run; their writes replayed and counted. */
async function leanIndexKeys(ctx: BenchContext, system: SystemName): Promise<IndexKeysResult> {
  const k = ctx.opts.leanProbeJobs;
  const target = targetOf(ctx, system, 'keys');
  const scratchName = `${target.db.slice(0, 55)}_replay`;
  const driver = DRIVERS[system];
  const capture = new WriteCapture();
  let finished = 0;
  clientTap.capture = capture;
  const local = await driver
    .local(target, ctx.opts.leanConc, { started: () => {}, finished: () => (finished += 1) })
    .finally(() => (clientTap.capture = undefined));
  const marks: number[] = [];
  let indexes;
  try {
    marks.push(capture.mark());
    for (let i = 0; i < k; i++) await local.put(jobData(i, 0));
    marks.push(capture.mark());
    await local.start();
    const deadline = Date.now() + ctx.opts.leanTimeoutS * 1000;
    while (finished < k && Date.now() < deadline) await sleep(WAIT_POLL_MS);
    marks.push(capture.mark());
    if (finished < k) throw new Error(`index probe: ${finished}/${k} jobs finished`);
    indexes = await indexDefinitions(ctx.admin.mongo.db(target.db));
  } finally {
    capture.stop();
    await local.close();
  }
  const scratch = ctx.admin.mongo.db(scratchName);
  try {
    const replay = await replayKeys(capture, {
      db: target.db,
      scratch,
      indexes,
      windows: [
        { name: 'put', from: marks[0], to: marks[1] },
        { name: 'run', from: marks[1], to: marks[2] },
      ],
    });
    return keysResult(ctx, system, k, replay.windows, replay.mismatches, replay.unhandled);
  } finally {
    await scratch.dropDatabase().catch(() => {});
    await driver.drop(target, ctx.admin).catch(() => {});
  }
}

function keysResult(
  ctx: BenchContext,
  system: SystemName,
  k: number,
  windows: Record<string, Record<string, CollectionKeys>>,
  mismatches: string[],
  unhandled: string[],
): IndexKeysResult {
  const put = windows.put ?? {};
  const run = windows.run ?? {};
  // The jobs collection: where the puts inserted the most documents.
  const collection =
    Object.entries(put).sort(([, a], [, b]) => b.docs - a.docs)[0]?.[0] ?? '(none written)';
  const empty = (): CollectionKeys => ({
    writes: 0,
    docs: 0,
    keys: 0,
    byIndex: {},
    documentDbEntries: 0,
  });
  const life = empty();
  addKeys(life, put[collection] ?? empty());
  addKeys(life, run[collection] ?? empty());
  let other = 0;
  for (const w of [put, run]) {
    for (const [c, f] of Object.entries(w)) if (c !== collection) other += f.keys;
  }
  return {
    system,
    server: ctx.server,
    jobs: k,
    collection,
    putKeysPerJob: (put[collection]?.keys ?? 0) / k,
    runKeysPerJob: (run[collection]?.keys ?? 0) / k,
    lifeKeysPerJob: life.keys / k,
    writesPerJob: life.docs / k,
    byIndexPerJob: Object.fromEntries(
      Object.entries(life.byIndex).map(([name, n]) => [name, n / k]),
    ),
    documentDbEntriesPerJob: life.documentDbEntries / k,
    otherKeysPerJob: other / k,
    mismatches: mismatches.slice(0, 5),
    unhandled: [...new Set(unhandled)].slice(0, 5),
    errors: [],
  };
}

/**
 * Runs the lean workload of one lane (a system on a server; `memory` for drover's in-memory
 * store) and adds its rows to the results.
 */
export async function runLean(
  ctx: BenchContext,
  system: SystemName,
  wire: WireProxy | undefined,
): Promise<void> {
  const memory = ctx.server === MEMORY_SERVER;
  const results = ctx.results;
  results.lean ??= [];
  results.indexKeys ??= [];
  const target = (label: string): Target => ({ ...targetOf(ctx, system, label), memory });
  const guarded = async (
    row: () => Promise<LeanResult>,
    phase: LeanResult['phase'],
    label: string,
  ): Promise<void> => {
    const t = target(label);
    let r: LeanResult;
    try {
      r = await row();
    } catch (err) {
      r = leanRow(ctx, system, phase, phase === 'put' ? 1 : ctx.opts.leanConc);
      r.errors.push(String((err as Error).message ?? err).slice(0, 300));
    } finally {
      await DRIVERS[system].drop(t, ctx.admin).catch(() => {});
    }
    results.lean?.push(r);
    const bytes =
      r.bytesUpPerJob === undefined
        ? ''
        : `${(r.bytesUpPerJob + (r.bytesDownPerJob ?? 0)).toFixed(0)} bytes/job, `;
    ctx.log(
      `${system}@${ctx.server} lean ${phase}: ${r.cpuUsPerJob.toFixed(0)} us CPU/job, ${bytes}` +
        `${r.roundTripsPerJob.toFixed(2)} round trips/job over ${r.jobs} jobs` +
        (r.errors.length ? ` (${r.errors[0]})` : ''),
    );
  };
  await guarded(() => leanPut(ctx, system, target('lean_put'), wire), 'put', 'lean_put');
  await guarded(() => leanBurn(ctx, system, target('lean_burn'), wire), 'burn', 'lean_burn');
  if (memory || system === 'bullmq') return;
  try {
    const keys = await leanIndexKeys(ctx, system);
    results.indexKeys.push(keys);
    ctx.log(
      `${system}@${ctx.server} index keys/job: put ${keys.putKeysPerJob.toFixed(1)}, ` +
        `run ${keys.runKeysPerJob.toFixed(1)}, life ${keys.lifeKeysPerJob.toFixed(1)} ` +
        `(${keys.collection}); other collections ${keys.otherKeysPerJob.toFixed(2)}` +
        (keys.mismatches.length ? `; REPLAY MISMATCH ${keys.mismatches[0]}` : ''),
    );
  } catch (err) {
    ctx.log(`${system}@${ctx.server} index keys failed: ${(err as Error).message}`);
    results.notes.push(`${system} index keys on ${ctx.server}: ${(err as Error).message}`);
  }
}
