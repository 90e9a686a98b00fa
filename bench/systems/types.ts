/**
 * The common shape of the three systems under test, so each workload is written once.
 * A driver puts no-op jobs `{ seq, fail }` and runs them with a handler that reports its start and
 * throws on every attempt when `fail` is set (the system then retries up to 3 attempts in all).
 */
import type { MongoClient } from 'mongodb';
import type { Redis as RedisClient } from 'ioredis';

export const SYSTEM_NAMES = ['drover', 'agenda', 'bullmq'] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

/** Attempts in all of a failing job, in every system. */
export const MAX_ATTEMPTS = 3;

/** Where one run of one system keeps its jobs. */
export interface Target {
  system: SystemName;
  mongoUri: string;
  redis?: { host: string; port: number };
  /** Database of the MongoDB systems (each run has its own). */
  db: string;
  queue: string;
  /** drover only: the in-memory store (`QueueGroup.inMemory`), no database at all. */
  memory?: boolean;
}

/** Payload of every bench job. */
export interface JobData {
  seq: number;
  /** Throw on every attempt (the mixed workload's 10%). */
  fail: boolean;
}

/** What a consumer reports from its handler and its events. */
export interface ConsumerHooks {
  /** The handler of job `seq` began (any attempt). */
  started(seq: number): void;
  /** Job `seq` reached its final outcome: completed, or failed with no attempt left. */
  finished(seq: number, ok: boolean): void;
}

export interface Producer {
  put(job: JobData): Promise<void>;
  /** The system's bulk insert (or, lacking one, concurrent single inserts; see README). */
  putMany(jobs: JobData[]): Promise<void>;
  close(): Promise<void>;
}

export interface Consumer {
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Connections the orchestrator keeps for clean-up (not metered). */
export interface AdminClients {
  mongo: MongoClient;
  redis?: RedisClient;
}

/** Tuning of a system, recorded with the results. */
export type Settings = Record<string, string | number | boolean>;

export interface SystemDriver {
  readonly name: SystemName;
  /** Why this system cannot run here (missing package or server), or undefined. */
  unavailable(target: Omit<Target, 'db' | 'queue'>): string | undefined;
  producer(target: Target): Promise<Producer>;
  consumer(target: Target, concurrency: number, hooks: ConsumerHooks): Promise<Consumer>;
  /** Producer and consumer in one process, sharing what the system shares in one process. */
  local(target: Target, concurrency: number, hooks: ConsumerHooks): Promise<Producer & Consumer>;
  /** Removes a run's data. */
  drop(target: Target, admin: AdminClients): Promise<void>;
  /** The settings used, in terms of the concurrency under test `C`. */
  settings(): Settings;
  /** Versions of the packages involved. */
  versions(): Record<string, string>;
}
