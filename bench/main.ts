/**
 * `npm run bench`: drover, Agenda and BullMQ measured in one run: drover and Agenda on each
 * MongoDB server (DocumentDB when one can be had, then MONGODB_URI or the test suite's stand-in;
 * see bench/servers.ts), BullMQ on a private local Redis. See bench/README.md.
 *
 *   node dist/bench/main.js [--smoke] [--n 5000] [--procs 1,2] [--conc 1,4,16,64] [--out dir] ...
 *
 * Workloads run cell by cell, every system on every server in turn within a cell, so they share
 * the machine's conditions. Everything started here (workers, redis-server, DocumentDB, the
 * MongoDB stand-in) is stopped at the end, on a signal, and when the `--timeout` budget runs out
 * (partial results are written then, and the exit code is 2).
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { redactUri } from '../lib/store/mongo/connect';
import type { BenchContext } from './context';
import { runEnqueue } from './enqueue';
import { MEMORY_SERVER, runLean } from './lean';
import { runLatency } from './latency';
import { meterRedis } from './meter';
import { parseOptions, type BenchOptions } from './options';
import { findRedisServer, startRedis, type RedisServer } from './redis-server';
import { renderMarkdown, writeReports } from './report';
import type { BenchResults } from './results';
import { defaultTarget, documentDbTarget, type MongoTarget } from './servers';
import { DRIVERS, type SystemName } from './systems';
import { agendaTuning } from './systems/agenda';
import { runThroughput } from './throughput';
import { WireProxy } from './wire-proxy';
import { killAllWorkers } from './workers';

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

function emptyResults(opts: BenchOptions): BenchResults {
  const cpus = os.cpus();
  return {
    meta: {
      startedAt: new Date().toISOString(),
      finishedAt: '',
      durationS: 0,
      machine: {
        cpus: cpus.length,
        model: cpus[0]?.model.trim() ?? '?',
        memGiB: Math.round(os.totalmem() / 2 ** 30),
        os: `${os.type()} ${os.release()}`,
        node: process.version,
      },
      servers: [],
      versions: {},
      complete: false,
    },
    options: opts,
    settings: {},
    skipped: [],
    notes: [],
    enqueue: [],
    burn: [],
    latency: [],
    mixed: [],
    lean: [],
    indexKeys: [],
  };
}

/** Servers and clients to release at the end, in reverse order. */
class Resources {
  mongos: MongoTarget[] = [];
  redis?: RedisServer;
  wire?: WireProxy;
  async release(): Promise<void> {
    killAllWorkers();
    this.wire?.stop();
    await this.redis?.stop().catch(() => {});
    for (const m of this.mongos.splice(0).reverse()) {
      await m.admin.close().catch(() => {});
      await m.stop().catch(() => {});
    }
  }
}

/** One system on one server: the context its workloads get. */
interface Lane {
  system: SystemName;
  ctx: BenchContext;
}

/** Runs every workload; results accumulate in the lanes' shared results as they come. */
async function runAll(opts: BenchOptions, lanes: Lane[], wire?: WireProxy): Promise<void> {
  const want = (w: BenchOptions['workloads'][number]): boolean => opts.workloads.includes(w);
  if (want('enqueue')) {
    for (const { system, ctx } of lanes)
      ctx.results.enqueue.push(...(await runEnqueue(ctx, system)));
  }
  if (want('burn')) {
    for (const p of opts.procs) {
      for (const c of opts.conc) {
        for (const { system, ctx } of lanes) {
          ctx.results.burn.push(await runThroughput(ctx, system, p, c, 0));
        }
      }
    }
  }
  if (want('latency')) {
    for (const { system, ctx } of lanes)
      ctx.results.latency.push(...(await runLatency(ctx, system)));
  }
  if (want('mixed')) {
    for (const { system, ctx } of lanes) {
      ctx.results.mixed.push(
        await runThroughput(ctx, system, opts.mixedProcs, opts.mixedConc, opts.failShare),
      );
    }
  }
  if (want('lean')) {
    const drover = lanes.find((l) => l.system === 'drover');
    // drover's in-memory store too (first: it needs no server), CPU only.
    const memory = drover && { ...drover, ctx: { ...drover.ctx, server: MEMORY_SERVER } };
    for (const { system, ctx } of [...(memory ? [memory] : []), ...lanes]) {
      await runLean(ctx, system, wire);
    }
  }
}

function finish(results: BenchResults, complete: boolean): string[] {
  results.meta.finishedAt = new Date().toISOString();
  results.meta.durationS =
    (Date.parse(results.meta.finishedAt) - Date.parse(results.meta.startedAt)) / 1000;
  results.meta.complete = complete;
  return writeReports(results, results.options.out);
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const results = emptyResults(opts);
  const res = new Resources();
  let finished = false;
  const abort = (why: string, code: number): void => {
    if (finished) return;
    finished = true;
    log(`${why}: stopping, writing partial results`);
    killAllWorkers();
    try {
      results.notes.push(`run cut short: ${why}`);
      finish(results, false);
    } catch (err) {
      log(`could not write results: ${(err as Error).message}`);
    }
    void res.release().finally(() => process.exit(code));
  };
  const watchdog = setTimeout(
    () => abort(`--timeout ${opts.timeoutS}s reached`, 2),
    opts.timeoutS * 1000,
  );
  process.once('SIGINT', () => abort('SIGINT', 130));
  process.once('SIGTERM', () => abort('SIGTERM', 143));

  try {
    Object.assign(agendaTuning, {
      processEveryMs: opts.agendaProcessEveryMs,
      lockLimitFactor: opts.agendaLockLimitFactor,
    });
    if (opts.systems.includes('bullmq')) meterRedis();
    for (const choice of opts.mongo) {
      if (choice === 'documentdb') {
        const target = await documentDbTarget(opts.documentdbKit, log);
        if (typeof target === 'string') {
          log(`no DocumentDB: ${target}`);
          results.notes.push(`DocumentDB skipped: ${target}`);
          continue;
        }
        res.mongos.push(target);
      } else {
        const target = await defaultTarget();
        if (res.mongos.some((m) => m.uri === target.uri)) {
          await target.admin.close();
          continue;
        }
        res.mongos.push(target);
      }
    }
    if (res.mongos.length === 0) throw new Error('no MongoDB server to run on');
    results.meta.servers.push(...res.mongos.map((m) => m.info));
    if (opts.systems.includes('bullmq')) {
      const binary = findRedisServer();
      if (binary) {
        try {
          res.redis = await startRedis(binary);
          results.meta.servers.push({
            id: 'redis',
            name: 'Redis',
            kind: 'redis-server, private, persistence off',
            version: res.redis.version,
          });
        } catch (err) {
          log(`redis-server failed to start: ${(err as Error).message}`);
        }
      }
    }
    const runId = randomBytes(3).toString('hex');
    const laneOf = (system: SystemName, server: MongoTarget, id = server.info.id): Lane => ({
      system,
      ctx: {
        opts,
        server: id,
        mongoUri: server.uri,
        redis: res.redis,
        admin: { mongo: server.admin, redis: res.redis?.admin },
        results,
        runId,
        log,
      },
    });
    const lanes: Lane[] = [];
    for (const name of opts.systems) {
      const driver = DRIVERS[name];
      const why = driver.unavailable({
        system: name,
        mongoUri: res.mongos[0].uri,
        redis: res.redis && { host: res.redis.host, port: res.redis.port },
      });
      if (why) {
        log(`skipping ${name}: ${why}`);
        results.skipped.push({ system: name, reason: why });
        continue;
      }
      Object.assign(results.meta.versions, driver.versions());
      results.settings[name] = driver.settings();
    }
    const running = opts.systems.filter((s) => !results.skipped.some((k) => k.system === s));
    // drover and Agenda on every MongoDB server, server by server; BullMQ once, on Redis.
    for (const server of res.mongos) {
      for (const s of running) if (s !== 'bullmq') lanes.push(laneOf(s, server));
    }
    if (running.includes('bullmq')) lanes.push(laneOf('bullmq', res.mongos[0], 'redis'));
    log(
      `systems ${running.join(', ')}; MongoDB ${res.mongos.map((m) => `${m.info.name} at ${redactUri(m.uri)}`).join(', ')}` +
        (res.redis ? `; redis ${res.redis.version} on port ${res.redis.port}` : ''),
    );
    // Bytes on the wire: the lean workload's clients connect through a counting proxy process.
    if (opts.workloads.includes('lean')) res.wire = WireProxy.start();
    await runAll(opts, lanes, res.wire);
    if (finished) return 2;
    finished = true;
    clearTimeout(watchdog);
    const files = finish(results, true);
    process.stdout.write(`${renderMarkdown(results)}\n`);
    log(`wrote ${files.join(', ')}`);
    return 0;
  } catch (err) {
    if (finished) return 2;
    finished = true;
    clearTimeout(watchdog);
    log(`failed: ${(err as Error).stack ?? String(err)}`);
    results.notes.push(`run failed: ${(err as Error).message}`);
    finish(results, false);
    return 1;
  } finally {
    await res.release();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`fatal: ${String(err)}`);
    killAllWorkers();
    process.exit(1);
  },
);
