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

/**
 * The lean workload (issue 13): what one job costs the client on a warm worker, and a single put.
 * Bytes are counted by the wire proxy (bench/wire-proxy.ts), CPU by the process itself.
 */
export interface LeanResult {
  system: SystemName;
  /** `BenchServer.id`, or `memory` for drover's in-memory store. */
  server: string;
  /** `burn`: a warm worker drains N jobs at concurrency `conc`; `put`: single puts, awaited. */
  phase: 'burn' | 'put';
  conc: number;
  /** Jobs measured: final outcomes after the warm-up, or puts. */
  jobs: number;
  jobsPerSec: number;
  /** User + system CPU of the measured client process per job, µs. */
  cpuUsPerJob: number;
  roundTripsPerJob: number;
  /** Bytes per job from the client to the server and back (absent on the in-memory store). */
  bytesUpPerJob?: number;
  bytesDownPerJob?: number;
  timedOut: boolean;
  /**
   * The system gave no outcome for a while with jobs left (cut, not waited for): a finding about
   * it (Agenda now and then leaves a job it locked unrun until the lock expires), reported with
   * the figures of the jobs it finished.
   */
  stalled?: boolean;
  errors: string[];
}

/** Index keys written per job, from a probe's writes replayed (bench/write-capture.ts). */
export interface IndexKeysResult {
  system: SystemName;
  server: string;
  /** Jobs in the probe (put one by one, then run at the lean concurrency). */
  jobs: number;
  /** The collection the puts inserted into (the jobs collection). */
  collection: string;
  /** Its index keys per job: the put; everything from the start of the run to the outcome. */
  putKeysPerJob: number;
  runKeysPerJob: number;
  lifeKeysPerJob: number;
  /** Its write statements per job life (documents changed, summed). */
  writesPerJob: number;
  /** Per index, keys per job life. */
  byIndexPerJob: Record<string, number>;
  /** Index entries per job life on DocumentDB's model (every index, every new version). */
  documentDbEntriesPerJob: number;
  /** Keys written in other collections during the probe's put and run, per job. */
  otherKeysPerJob: number;
  mismatches: string[];
  unhandled: string[];
  errors: string[];
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
  /** Absent in results written before the lean workload existed. */
  lean?: LeanResult[];
  indexKeys?: IndexKeysResult[];
}
