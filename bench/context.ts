/** What every workload gets: options, servers, admin clients, and where results go. */
import type { BenchOptions } from './options';
import type { BenchResults } from './results';
import type { RedisServer } from './redis-server';
import type { AdminClients, SystemName, Target } from './systems/types';
import { agendaTuning } from './systems/agenda';

export interface BenchContext {
  opts: BenchOptions;
  /** `BenchServer.id` of the server this pass keeps its jobs on (`redis` for BullMQ). */
  server: string;
  mongoUri: string;
  redis?: RedisServer;
  admin: AdminClients;
  results: BenchResults;
  /** Short random tag making database and queue names unique to this run. */
  runId: string;
  /** Progress lines go here (stderr). */
  log(line: string): void;
}

/** The place of one run of one system; every run gets a fresh database (or a flushed Redis). */
export function targetOf(ctx: BenchContext, system: SystemName, label: string): Target {
  return {
    system,
    mongoUri: ctx.mongoUri,
    redis: ctx.redis ? { host: ctx.redis.host, port: ctx.redis.port } : undefined,
    db: `bench_${system}_${label}_${ctx.runId}`.slice(0, 60),
    queue: `bench_${label}`,
  };
}

/** Agenda tuning from the options, as workers receive it. */
export function agendaTuningOf(opts: BenchOptions): typeof agendaTuning {
  return {
    processEveryMs: opts.agendaProcessEveryMs,
    lockLimitFactor: opts.agendaLockLimitFactor,
  };
}

/** The job `seq` of a workload with `failShare` failing jobs (every k-th fails). */
export function jobData(seq: number, failShare: number): { seq: number; fail: boolean } {
  const every = failShare > 0 ? Math.round(1 / failShare) : 0;
  return { seq, fail: every > 0 && seq % every === every - 1 };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
