/**
 * `npm run bench`: drover, Agenda and BullMQ measured in one run, on the same MongoDB server
 * (MONGODB_URI, else the test suite's stand-in) and a private local Redis. See bench/README.md.
 *
 *   node dist/bench/main.js [--smoke] [--n 5000] [--procs 1,2] [--conc 1,4,16,64] [--out dir] ...
 *
 * Workloads run cell by cell, every system in turn within a cell, so the systems share the
 * machine's conditions. Everything started here (workers, redis-server, the MongoDB stand-in) is
 * stopped at the end, on a signal, and when the `--timeout` budget runs out (partial results are
 * written then, and the exit code is 2).
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { MongoClient } from 'mongodb';
import { startServer, type TestServer } from '../test/support/server';
import type { BenchContext } from './context';
import { runEnqueue } from './enqueue';
import { runLatency } from './latency';
import { meterRedis } from './meter';
import { parseOptions, type BenchOptions } from './options';
import { findRedisServer, startRedis, type RedisServer } from './redis-server';
import { renderMarkdown, writeReports } from './report';
import type { BenchResults } from './results';
import { DRIVERS, type SystemName } from './systems';
import { agendaTuning } from './systems/agenda';
import { runThroughput } from './throughput';
import { killAllWorkers } from './workers';

const SERVER_LABELS: Record<TestServer['kind'], string> = {
  java: 'mongo-java-server (in-memory)',
  'memory-server': 'mongod (mongodb-memory-server)',
  uri: 'MongoDB at MONGODB_URI',
};

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
      mongo: { kind: '?', version: '?' },
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
  };
}

/** Servers and clients to release at the end, in reverse order. */
class Resources {
  mongo?: TestServer;
  redis?: RedisServer;
  admin?: MongoClient;
  async release(): Promise<void> {
    killAllWorkers();
    await this.admin?.close().catch(() => {});
    await this.redis?.stop().catch(() => {});
    await this.mongo?.stop().catch(() => {});
  }
}

async function mongoVersion(client: MongoClient): Promise<string> {
  try {
    const info = await client.db('admin').command({ buildInfo: 1 });
    return String(info.version ?? '?');
  } catch {
    return '?';
  }
}

/** Runs every workload; results accumulate in ctx.results as they come. */
async function runAll(ctx: BenchContext, systems: SystemName[]): Promise<void> {
  const { opts } = ctx;
  const want = (w: BenchOptions['workloads'][number]): boolean => opts.workloads.includes(w);
  if (want('enqueue')) {
    for (const s of systems) ctx.results.enqueue.push(...(await runEnqueue(ctx, s)));
  }
  if (want('burn')) {
    for (const p of opts.procs) {
      for (const c of opts.conc) {
        for (const s of systems) ctx.results.burn.push(await runThroughput(ctx, s, p, c, 0));
      }
    }
  }
  if (want('latency')) {
    for (const s of systems) ctx.results.latency.push(...(await runLatency(ctx, s)));
  }
  if (want('mixed')) {
    for (const s of systems) {
      ctx.results.mixed.push(
        await runThroughput(ctx, s, opts.mixedProcs, opts.mixedConc, opts.failShare),
      );
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
    res.mongo = await startServer();
    results.meta.mongo.kind = SERVER_LABELS[res.mongo.kind];
    res.admin = await MongoClient.connect(res.mongo.uri);
    results.meta.mongo.version = await mongoVersion(res.admin);
    if (opts.systems.includes('bullmq')) {
      const binary = findRedisServer();
      if (binary) {
        try {
          res.redis = await startRedis(binary);
          results.meta.redis = { version: res.redis.version };
        } catch (err) {
          log(`redis-server failed to start: ${(err as Error).message}`);
        }
      }
    }
    const ctx: BenchContext = {
      opts,
      mongoUri: res.mongo.uri,
      redis: res.redis,
      admin: { mongo: res.admin, redis: res.redis?.admin },
      results,
      runId: randomBytes(3).toString('hex'),
      log,
    };
    const systems: SystemName[] = [];
    for (const name of opts.systems) {
      const driver = DRIVERS[name];
      const why = driver.unavailable({
        system: name,
        mongoUri: ctx.mongoUri,
        redis: ctx.redis && { host: ctx.redis.host, port: ctx.redis.port },
      });
      if (why) {
        log(`skipping ${name}: ${why}`);
        results.skipped.push({ system: name, reason: why });
        continue;
      }
      systems.push(name);
      Object.assign(results.meta.versions, driver.versions());
      results.settings[name] = driver.settings();
    }
    log(
      `systems ${systems.join(', ')}; MongoDB ${results.meta.mongo.kind} at ${ctx.mongoUri}` +
        (ctx.redis ? `; redis ${ctx.redis.version} on port ${ctx.redis.port}` : ''),
    );
    await runAll(ctx, systems);
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
