/**
 * What a process measures about itself: database round trips, CPU time and peak memory.
 * - MongoDB: every `commandStarted` event of a client created with `monitorCommands: true`
 *   (one command is one round trip; server monitoring heartbeats are not commands).
 * - Redis: every command ioredis writes on its own, plus one per pipeline or MULTI flushed
 *   (the commands of a pipeline share one write and one round trip). Commands run by Lua scripts
 *   inside the server are not round trips; the parent counts them separately from
 *   `INFO commandstats`.
 */
import { MongoClient, type MongoClientOptions } from 'mongodb';
import type { WriteCapture } from './write-capture';

/** Counters of one process; reset at the start of a measured window. */
export class Meter {
  roundTrips = 0;
  private cpuStart = process.cpuUsage();
  private wallStart = performance.now();

  /** Starts a measured window. */
  reset(): void {
    this.roundTrips = 0;
    this.cpuStart = process.cpuUsage();
    this.wallStart = performance.now();
  }

  /** Figures since the last `reset`. */
  snapshot(): MeterSnapshot {
    const cpu = process.cpuUsage(this.cpuStart);
    return {
      roundTrips: this.roundTrips,
      cpuUserUs: cpu.user,
      cpuSystemUs: cpu.system,
      wallMs: performance.now() - this.wallStart,
      // resourceUsage().maxRSS is the peak of the whole process, in KiB.
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  }
}

export interface MeterSnapshot {
  roundTrips: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  wallMs: number;
  peakRssBytes: number;
}

/** The one meter of this process. */
export const meter = new Meter();

/**
 * Set while the lean workload's index probe runs (bench/lean.ts): every metered client created
 * meanwhile also reports its writes to this capture.
 */
export const clientTap: { capture?: WriteCapture } = {};

/** A MongoClient whose every command counts as a round trip on `meter`. */
export async function meteredMongoClient(
  uri: string,
  options: MongoClientOptions = {},
): Promise<MongoClient> {
  const client = new MongoClient(uri, { ...options, monitorCommands: true });
  client.on('commandStarted', () => {
    meter.roundTrips += 1;
  });
  clientTap.capture?.attach(client);
  await client.connect();
  return client;
}

interface SendCommandHost {
  sendCommand(command: unknown, stream?: unknown, ...rest: unknown[]): unknown;
}
interface ExecHost {
  exec(...args: unknown[]): unknown;
}

let redisPatched = false;

/**
 * Counts ioredis round trips on `meter` in this process (every client, including those BullMQ
 * creates and duplicates). A command written as part of a pipeline carries a `stream` argument
 * and is not counted on its own; the pipeline's `exec` counts once.
 */
export function meterRedis(): void {
  if (redisPatched) return;
  redisPatched = true;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Redis = (require('ioredis') as { default: { prototype: SendCommandHost } }).default;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Pipeline = (require('ioredis/built/Pipeline') as { default: { prototype: ExecHost } })
    .default;
  const send = Redis.prototype.sendCommand;
  Redis.prototype.sendCommand = function (this: SendCommandHost, command, stream, ...rest) {
    if (stream === undefined) meter.roundTrips += 1;
    return send.call(this, command, stream, ...rest);
  };
  const exec = Pipeline.prototype.exec;
  Pipeline.prototype.exec = function (this: ExecHost, ...args: unknown[]) {
    meter.roundTrips += 1;
    return exec.apply(this, args);
  };
}

/** The q-quantile (0..1) of a sample, by nearest rank; NaN for an empty sample. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** Milliseconds since the epoch with sub-millisecond resolution, comparable across processes. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}
