/** Shapes of the figures the benchmark records (latest.json holds a `BenchResults`). */
import type { BenchOptions } from './options';
import type { Settings, SystemName } from './systems/types';

/** A server the systems ran on, as the results name it (see bench/servers.ts). */
export interface BenchServer {
  /** `documentdb`, `default` (MONGODB_URI or the stand-in) or `redis`. */
  id: string;
  /** Short name for table headings, e.g. "DocumentDB", "mongo-java-server". */
  name: string;
  /** What it is, in a sentence. */
  kind: string;
  version: string;
}

/** A burn-down (or mixed) run: N jobs put first, then P processes x C slots drain them. */
export interface ThroughputResult {
  system: SystemName;
  /** `BenchServer.id` of the server the jobs were kept on. */
  server: string;
  procs: number;
  conc: number;
  n: number;
  /** Share of jobs failing on every attempt (0 for the burn-down). */
  failShare: number;
  /** Final outcomes per second, from 'go' to the last final outcome. */
  jobsPerSec: number;
  elapsedMs: number;
  completed: number;
  failed: number;
  /** Handler invocations (attempts), summed over processes. */
  runs: number;
  /** Client round trips of the worker processes per job (MongoDB commands; Redis writes). */
  roundTripsPerJob: number;
  /** Redis only: commands the server executed per job, scripts' inner calls included. */
  serverCommandsPerJob?: number;
  /** User + system CPU of the worker processes per job, in microseconds. */
  cpuUsPerJob: number;
  /** Largest peak RSS of one worker process, MiB. */
  peakRssMiB: number;
  timedOut: boolean;
  errors: string[];
}

export interface EnqueueResult {
  system: SystemName;
  server: string;
  mode: 'single' | 'bulk';
  jobs: number;
  /** Jobs per call (1 for single puts). */
  batch: number;
  jobsPerSec: number;
  roundTripsPerJob: number;
  cpuUsPerJob: number;
  /** Per call: one put, or one putMany of `batch` jobs. */
  p50Ms: number;
  p99Ms: number;
}

export interface LatencyResult {
  system: SystemName;
  server: string;
  where: 'same-process' | 'cross-process';
  samples: number;
  /** Samples whose job did not start within the sample timeout. */
  missed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

export interface BenchResults {
  meta: {
    startedAt: string;
    finishedAt: string;
    durationS: number;
    machine: { cpus: number; model: string; memGiB: number; os: string; node: string };
    /** Every server of the run, MongoDB ones in the order they ran, then Redis. */
    servers: BenchServer[];
    versions: Record<string, string>;
    complete: boolean;
  };
  options: BenchOptions;
  settings: Partial<Record<SystemName, Settings>>;
  skipped: { system: SystemName; reason: string }[];
  notes: string[];
  enqueue: EnqueueResult[];
  burn: ThroughputResult[];
  latency: LatencyResult[];
  mixed: ThroughputResult[];
}
