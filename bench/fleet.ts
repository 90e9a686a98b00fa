/**
 * `npm run bench:fleet`: what an idle fleet costs, for drover, Agenda and BullMQ at their
 * defaults (see bench/fleet-systems.ts and bench/README.md):
 *
 * - idle cost: one worker process serving 1 and 200 queues (`--queues`) sits idle; over a window
 *   (`--window-s`, after `--warmup-s`) it counts its database commands (driver command
 *   monitoring; Redis commands as bench/meter.ts counts them) and its CPU time;
 * - latency after idle: one worker process serving one queue sits idle `--idle-s` to twice that
 *   before each put made by this process; the time from just before the put to the first line of the handler
 *   (epoch time, comparable across processes), `--samples` times.
 *
 * Writes bench/results/fleet.json and fleet.md (or `--out`), prints the tables.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { MongoClient } from 'mongodb';
import { startServer, type TestServer } from '../test/support/server';
import { ForkedWorker, ForkedWorkers, forkWorker } from '../test/support/fork';
import { epochMs, quantile, type MeterSnapshot } from './meter';
import { findRedisServer, startRedis, type RedisServer } from './redis-server';
import {
  FLEET_SETTINGS,
  FLEET_SYSTEMS,
  fleetQueue,
  fleetUnavailable,
  fleetVersions,
} from './fleet-systems';
import {
  FLEET_WORKER_ENV,
  type FleetWorkerConfig,
  type FromFleetWorker,
  type ToFleetWorker,
} from './fleet-worker';
import { SYSTEM_NAMES, type SystemName, type Target } from './systems/types';

interface FleetOptions {
  systems: SystemName[];
  queues: number[];
  warmupS: number;
  windowS: number;
  samples: number;
  idleS: number;
  out: string;
}

interface IdleResult {
  system: SystemName;
  queues: number;
  commandsPerSec: number;
  cpuPercent: number;
  windowS: number;
}

interface LatencyAfterIdle {
  system: SystemName;
  idleS: number;
  samples: number;
  missed: number;
  p50Ms: number;
  p90Ms: number;
  maxMs: number;
}

function log(line: string): void {
  process.stderr.write(`[fleet] ${line}\n`);
}

function parse(argv: string[]): FleetOptions {
  const list = (raw: string) => raw.split(',').map((s) => s.trim());
  const o = new Command('bench:fleet')
    .option('--systems <list>', 'systems', list, [...SYSTEM_NAMES])
    .option('--queues <list>', 'queues per idle process', (raw) => list(raw).map(Number), [1, 200])
    .option('--warmup-s <s>', 'idle time before the measured window', Number, 5)
    .option('--window-s <s>', 'measured idle window', Number, 20)
    .option('--samples <n>', 'latency samples', Number, 10)
    .option('--idle-s <s>', 'idle time before each latency sample (to twice that)', Number, 5)
    .option('--out <dir>', 'where fleet.json and fleet.md go', 'bench/results')
    .parse(argv, { from: 'user' })
    .opts<FleetOptions>();
  for (const s of o.systems) {
    if (!SYSTEM_NAMES.includes(s)) throw new Error(`unknown system ${s}`);
  }
  return o;
}

class FleetProcess extends ForkedWorker<FromFleetWorker> {
  onStarted: (seq: number, at: number) => void = () => {};
  /** Messages nobody waited for yet, and the waits for messages not come yet. */
  private readonly kept: FromFleetWorker[] = [];
  private readonly waiters: ((m: FromFleetWorker) => boolean)[] = [];

  protected onMessage(msg: FromFleetWorker): void {
    if (msg.kind === 'started') return this.onStarted(msg.seq, msg.at);
    const i = this.waiters.findIndex((w) => w(msg));
    if (i >= 0) this.waiters.splice(i, 1);
    else this.kept.push(msg);
  }

  /** The next message of `kind`, or a rejection when the process exits first. */
  next<K extends FromFleetWorker['kind']>(
    kind: K,
    timeoutMs = 120_000,
  ): Promise<Extract<FromFleetWorker, { kind: K }>> {
    const i = this.kept.findIndex((m) => m.kind === kind);
    if (i >= 0)
      return Promise.resolve(this.kept.splice(i, 1)[0] as Extract<FromFleetWorker, { kind: K }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${kind} in ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((m) => {
        if (m.kind !== kind) return false;
        clearTimeout(timer);
        resolve(m as Extract<FromFleetWorker, { kind: K }>);
        return true;
      });
      void this.whenExited().then(() => {
        clearTimeout(timer);
        reject(new Error(`fleet worker exited (${this.exitCode}):\n${this.stderr}`));
      });
    });
  }

  tell(msg: ToFleetWorker): void {
    if (this.child.connected) this.child.send(msg);
  }
}

const forked = new (class extends ForkedWorkers<FleetProcess> {
  spawn(config: FleetWorkerConfig): FleetProcess {
    const script = path.join(__dirname, 'fleet-worker.js');
    return this.add(new FleetProcess(forkWorker(script, FLEET_WORKER_ENV, config), 8_000));
  }
})();
process.on('exit', () => void forked.killAll());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function idleCost(opts: FleetOptions, target: Target, queues: number): Promise<IdleResult> {
  const worker = forked.spawn({ system: target.system, target, queues });
  try {
    await worker.next('ready', 600_000);
    await sleep(opts.warmupS * 1000);
    worker.tell({ kind: 'mark' });
    await sleep(opts.windowS * 1000);
    const report = worker.next('report');
    worker.tell({ kind: 'report' });
    const m: MeterSnapshot = (await report).metrics;
    const seconds = m.wallMs / 1000;
    return {
      system: target.system,
      queues,
      commandsPerSec: m.roundTrips / seconds,
      cpuPercent: ((m.cpuUserUs + m.cpuSystemUs) / 1000 / m.wallMs) * 100,
      windowS: seconds,
    };
  } finally {
    await worker.close(2_000);
  }
}

async function latencyAfterIdle(opts: FleetOptions, target: Target): Promise<LatencyAfterIdle> {
  const worker = forked.spawn({ system: target.system, target, queues: 1 });
  const starts = new Map<number, number>();
  worker.onStarted = (seq, at) => starts.set(seq, at);
  const producer = await FLEET_SYSTEMS[target.system].producer(target);
  const latencies: number[] = [];
  let missed = 0;
  try {
    await worker.next('ready');
    for (let seq = 0; seq < opts.samples; seq++) {
      // Idle for idleS to 2 x idleS: a fixed gap could fall in step with a system's poll period.
      await sleep(opts.idleS * 1000 * (1 + Math.random()));
      const t = epochMs();
      await producer.put(fleetQueue(target, 0), seq);
      const deadline = Date.now() + 30_000;
      while (!starts.has(seq) && Date.now() < deadline) await sleep(2);
      const at = starts.get(seq);
      if (at === undefined) missed += 1;
      else latencies.push(at - t);
    }
  } finally {
    await producer.close();
    await worker.close(2_000);
  }
  return {
    system: target.system,
    idleS: opts.idleS,
    samples: latencies.length,
    missed,
    p50Ms: quantile(latencies, 0.5),
    p90Ms: quantile(latencies, 0.9),
    maxMs: latencies.length ? Math.max(...latencies) : NaN,
  };
}

function render(
  opts: FleetOptions,
  idle: IdleResult[],
  latency: LatencyAfterIdle[],
  meta: Record<string, unknown>,
): string {
  const lines = [
    '# Fleet benchmark: idle cost and latency after idle',
    '',
    `MongoDB: ${String(meta.mongo)}; ${String(meta.when)}; each system at its defaults.`,
    '',
    '| system | queues | commands/s (idle) | CPU % of a core (idle) |',
    '| --- | ---: | ---: | ---: |',
    ...idle.map(
      (r) =>
        `| ${r.system} | ${r.queues} | ${r.commandsPerSec.toFixed(2)} | ${r.cpuPercent.toFixed(2)} |`,
    ),
    '',
    `| system | put-to-start after ${opts.idleS}-${2 * opts.idleS} s idle, cross-process: p50 ms | p90 ms | max ms | samples |`,
    '| --- | ---: | ---: | ---: | ---: |',
    ...latency.map(
      (r) =>
        `| ${r.system} | ${r.p50Ms.toFixed(0)} | ${r.p90Ms.toFixed(0)} | ${r.maxMs.toFixed(0)} | ` +
        `${r.samples}${r.missed ? ` (${r.missed} missed)` : ''} |`,
    ),
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const opts = parse(process.argv.slice(2));
  let mongo: TestServer | undefined;
  let redis: RedisServer | undefined;
  const runId = randomBytes(3).toString('hex');
  const idle: IdleResult[] = [];
  const latency: LatencyAfterIdle[] = [];
  try {
    mongo = await startServer();
    const binary = opts.systems.includes('bullmq') ? findRedisServer() : undefined;
    if (binary) redis = await startRedis(binary);
    const admin = await MongoClient.connect(mongo.uri);
    try {
      for (const system of opts.systems) {
        const target = (label: string): Target => ({
          system,
          mongoUri: (mongo as TestServer).uri,
          redis: redis && { host: redis.host, port: redis.port },
          db: `fleet_${system}_${label}_${runId}`,
          queue: `fleet_${label}`,
        });
        const why = fleetUnavailable(system, target('x'));
        if (why) {
          log(`skipping ${system}: ${why}`);
          continue;
        }
        for (const q of opts.queues) {
          const t = target(`idle${q}`);
          const r = await idleCost(opts, t, q);
          log(
            `${system} ${q} queues: ${r.commandsPerSec.toFixed(2)} cmd/s, ${r.cpuPercent.toFixed(2)}% CPU`,
          );
          idle.push(r);
          await admin
            .db(t.db)
            .dropDatabase()
            .catch(() => {});
          await redis?.admin.flushall();
        }
        const t = target('latency');
        const r = await latencyAfterIdle(opts, t);
        log(
          `${system} latency after ${opts.idleS}s idle: p50 ${r.p50Ms.toFixed(0)} ms, max ${r.maxMs.toFixed(0)} ms`,
        );
        latency.push(r);
        await admin
          .db(t.db)
          .dropDatabase()
          .catch(() => {});
        await redis?.admin.flushall();
      }
    } finally {
      await admin.close();
    }
    const meta = {
      when: new Date().toISOString(),
      mongo: mongo.kind === 'uri' ? 'MONGODB_URI' : mongo.kind,
      versions: fleetVersions(),
      settings: FLEET_SETTINGS,
      options: opts,
    };
    const md = render(opts, idle, latency, meta);
    mkdirSync(opts.out, { recursive: true });
    writeFileSync(
      path.join(opts.out, 'fleet.json'),
      JSON.stringify({ meta, idle, latency }, null, 2),
    );
    writeFileSync(path.join(opts.out, 'fleet.md'), `${md}\n`);
    process.stdout.write(`${md}\n`);
  } finally {
    await forked.killAll();
    await redis?.stop().catch(() => {});
    await mongo?.stop().catch(() => {});
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
