/** Command-line options of the benchmark, their defaults and the smoke preset. */
import { Command, InvalidArgumentError } from 'commander';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../test/support/server';
import { MONGO_CHOICES, type MongoChoice } from './servers';
import { SYSTEM_NAMES, type SystemName } from './systems/types';

export const WORKLOADS = ['enqueue', 'burn', 'latency', 'mixed', 'lean'] as const;
/** Lean workload: unmeasured single puts before the measured ones (fewer if fewer are measured). */
export const LEAN_PUT_WARM_UP = 100;
export type Workload = (typeof WORKLOADS)[number];

export interface BenchOptions {
  n: number;
  procs: number[];
  conc: number[];
  systems: SystemName[];
  /** MongoDB servers drover and Agenda run on, in this order (see bench/servers.ts). */
  mongo: MongoChoice[];
  /** The DocumentDB kit started when BENCH_DOCUMENTDB_URI is not set. */
  documentdbKit: string;
  workloads: Workload[];
  /** Single puts in the enqueue workload. */
  singlePuts: number;
  /** Jobs per putMany call. */
  batch: number;
  latencySamples: number;
  /** Idle time of the consumer before the first latency sample, ms. */
  latencyIdleMs: number;
  /** Idle gap between latency samples: uniform in [min, max] ms. */
  latencyGapMs: [number, number];
  /** Worker concurrency of the latency runs. */
  latencyConc: number;
  mixedProcs: number;
  mixedConc: number;
  /** Share of failing jobs in the mixed workload. */
  failShare: number;
  cellTimeoutS: number;
  /** Lean workload: jobs the worker runs before the meters start (a warm worker). */
  leanWarmup: number;
  /** Lean workload: concurrency of its one worker process. */
  leanConc: number;
  /** Lean workload: jobs of the index-key probe. */
  leanProbeJobs: number;
  /** Lean workload: bound of one warm burn-down (warm-up included), seconds. */
  leanTimeoutS: number;
  timeoutS: number;
  out: string;
  smoke: boolean;
  agendaProcessEveryMs: number;
  agendaLockLimitFactor: number;
}

const DEFAULTS: BenchOptions = {
  n: 5_000,
  procs: [1, 2],
  conc: [1, 8, 64],
  systems: [...SYSTEM_NAMES],
  mongo: [...MONGO_CHOICES],
  documentdbKit: path.join(projectRoot(), '..', 'shared', 'documentdb'),
  workloads: [...WORKLOADS],
  singlePuts: 1_000,
  batch: 1_000,
  latencySamples: 100,
  latencyIdleMs: 1_000,
  latencyGapMs: [20, 200],
  latencyConc: 4,
  mixedProcs: 2,
  mixedConc: 16,
  failShare: 0.1,
  cellTimeoutS: 30,
  leanWarmup: 1_000,
  leanConc: 64,
  leanProbeJobs: 50,
  leanTimeoutS: 240,
  timeoutS: 3_600,
  out: 'bench/results',
  smoke: false,
  agendaProcessEveryMs: 50,
  agendaLockLimitFactor: 2,
};

/** What `--smoke` changes: tiny and quick, every system, one MongoDB server, for CI. */
const SMOKE: Partial<BenchOptions> = {
  mongo: ['default'],
  n: 200,
  procs: [1],
  conc: [1, 4],
  singlePuts: 50,
  batch: 100,
  latencySamples: 10,
  latencyIdleMs: 200,
  latencyGapMs: [5, 20],
  mixedProcs: 1,
  mixedConc: 4,
  cellTimeoutS: 30,
  leanWarmup: 50,
  leanProbeJobs: 5,
  leanTimeoutS: 60,
  timeoutS: 300,
  out: path.join(os.tmpdir(), 'drover-bench-smoke'),
};

function int(min: number, max: number) {
  return (raw: string): number => {
    const v = Number(raw);
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new InvalidArgumentError(`expected an integer in ${min}..${max}`);
    }
    return v;
  };
}

function intList(min: number, max: number) {
  const one = int(min, max);
  return (raw: string): number[] => [...new Set(raw.split(',').map((s) => one(s.trim())))];
}

function nameList<T extends string>(allowed: readonly T[]) {
  return (raw: string): T[] =>
    raw.split(',').map((s) => {
      const v = s.trim() as T;
      if (!allowed.includes(v)) throw new InvalidArgumentError(`expected ${allowed.join('|')}`);
      return v;
    });
}

/** Parses argv (without node and script); explicit flags win over the smoke preset. */
export function parseOptions(argv: string[]): BenchOptions {
  const cmd = new Command('bench')
    .description('drover vs Agenda vs BullMQ: throughput, round trips, CPU, memory, latency')
    .option('--smoke', 'tiny run for CI: N=200, P=1, C in {1,4}')
    .option('--n <n>', `jobs per burn-down (default ${DEFAULTS.n})`, int(10, 10_000_000))
    .option('--procs <list>', `worker processes, 1..4 (default ${DEFAULTS.procs})`, intList(1, 4))
    .option(
      '--conc <list>',
      `concurrency per process, 1..64 (default ${DEFAULTS.conc})`,
      intList(1, 64),
    )
    .option('--systems <list>', `systems (default ${DEFAULTS.systems})`, nameList(SYSTEM_NAMES))
    .option(
      '--mongo <list>',
      `MongoDB servers: documentdb (BENCH_DOCUMENTDB_URI, else started from the kit when built), ` +
        `default (MONGODB_URI, else the test server) (default ${DEFAULTS.mongo})`,
      nameList(MONGO_CHOICES),
    )
    .option('--documentdb-kit <dir>', `DocumentDB kit (default ${DEFAULTS.documentdbKit})`)
    .option('--workloads <list>', `workloads (default ${DEFAULTS.workloads})`, nameList(WORKLOADS))
    .option('--single-puts <n>', 'single puts in the enqueue workload', int(1, 1_000_000))
    .option('--batch <n>', 'jobs per putMany call', int(1, 100_000))
    .option('--latency-samples <n>', 'jobs timed per latency run', int(1, 100_000))
    .option('--latency-conc <n>', 'worker concurrency in latency runs', int(1, 64))
    .option('--mixed-procs <n>', 'worker processes in the mixed workload', int(1, 4))
    .option('--mixed-conc <n>', 'concurrency per process in the mixed workload', int(1, 64))
    .option('--cell-timeout <s>', 'bound of one measured run, seconds', int(1, 86_400))
    .option('--lean-warmup <n>', 'lean: jobs run before measuring', int(0, 1_000_000))
    .option('--lean-conc <n>', 'lean: concurrency of the warm worker', int(1, 256))
    .option('--lean-probe <n>', 'lean: jobs of the index-key probe', int(1, 10_000))
    .option('--lean-timeout <s>', 'lean: bound of one warm burn-down, seconds', int(1, 86_400))
    .option('--timeout <s>', 'bound of the whole benchmark, seconds', int(1, 86_400))
    .option('--out <dir>', 'where latest.json, latest.md and throughput.svg go')
    .option('--agenda-process-every <ms>', 'Agenda processEvery', int(1, 60_000))
    .option('--agenda-lock-limit-factor <k>', 'Agenda lockLimit = k x concurrency', int(0, 100))
    .exitOverride();
  cmd.parse(argv, { from: 'user' });
  const o = cmd.opts<{
    smoke?: boolean;
    n?: number;
    procs?: number[];
    conc?: number[];
    systems?: SystemName[];
    mongo?: MongoChoice[];
    documentdbKit?: string;
    workloads?: Workload[];
    singlePuts?: number;
    batch?: number;
    latencySamples?: number;
    latencyConc?: number;
    mixedProcs?: number;
    mixedConc?: number;
    cellTimeout?: number;
    leanWarmup?: number;
    leanConc?: number;
    leanProbe?: number;
    leanTimeout?: number;
    timeout?: number;
    out?: string;
    agendaProcessEvery?: number;
    agendaLockLimitFactor?: number;
  }>();
  const base: BenchOptions = { ...DEFAULTS, ...(o.smoke ? SMOKE : {}), smoke: Boolean(o.smoke) };
  const pick = <K extends keyof BenchOptions>(key: K, v: BenchOptions[K] | undefined): void => {
    if (v !== undefined) base[key] = v;
  };
  pick('n', o.n);
  pick('procs', o.procs);
  pick('conc', o.conc);
  pick('systems', o.systems);
  pick('mongo', o.mongo ? [...new Set(o.mongo)] : undefined);
  pick('documentdbKit', o.documentdbKit);
  pick('workloads', o.workloads);
  pick('singlePuts', o.singlePuts);
  pick('batch', o.batch);
  pick('latencySamples', o.latencySamples);
  pick('latencyConc', o.latencyConc);
  pick('mixedProcs', o.mixedProcs);
  pick('mixedConc', o.mixedConc);
  pick('cellTimeoutS', o.cellTimeout);
  pick('leanWarmup', o.leanWarmup);
  pick('leanConc', o.leanConc);
  pick('leanProbeJobs', o.leanProbe);
  pick('leanTimeoutS', o.leanTimeout);
  pick('timeoutS', o.timeout);
  pick('out', o.out);
  pick('agendaProcessEveryMs', o.agendaProcessEvery);
  pick('agendaLockLimitFactor', o.agendaLockLimitFactor);
  base.procs.sort((a, b) => a - b);
  base.conc.sort((a, b) => a - b);
  return base;
}
