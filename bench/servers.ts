/**
 * The MongoDB servers of a benchmark run:
 * - `documentdb`: DocumentDB (PostgreSQL with the pg_documentdb extensions and their gateway),
 *   a real engine with B-tree-backed indexes, transactions and durable writes. From
 *   `BENCH_DOCUMENTDB_URI`, else an instance started from the kit (`../shared/documentdb`, or
 *   `--documentdb-kit`) when it is built (`build.sh --check`), stopped at the end;
 * - `default`: `MONGODB_URI`, else the test suite's server (a mongod through
 *   mongodb-memory-server, else the in-memory mongo-java-server stand-in).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MongoClient } from 'mongodb';
import { startServer, type TestServer } from '../test/support/server';
import type { BenchServer } from './results';

/** Which MongoDB servers to run on (`--mongo`). */
export const MONGO_CHOICES = ['documentdb', 'default'] as const;
export type MongoChoice = (typeof MONGO_CHOICES)[number];

/** The variable naming a running DocumentDB to use instead of starting one. */
export const DOCUMENTDB_URI_ENV = 'BENCH_DOCUMENTDB_URI';

const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;

/** A MongoDB server of the run and an admin client on it (not metered). */
export interface MongoTarget {
  info: BenchServer;
  uri: string;
  admin: MongoClient;
  /** Stops what this run started (a no-op for a given URI). */
  stop(): Promise<void>;
}

function run(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: timeoutMs, killSignal: 'SIGTERM' }, (err, out, errOut) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(out), stderr: String(errOut) });
    });
  });
}

async function version(admin: MongoClient): Promise<string> {
  try {
    const info = await admin.db('admin').command({ buildInfo: 1 });
    return String(info.version ?? '?');
  } catch {
    return '?';
  }
}

/** True when the server answers like DocumentDB (a mongos-like hello, localTime a number). */
async function isDocumentDb(admin: MongoClient): Promise<boolean> {
  try {
    const hello = await admin.db('admin').command({ hello: 1 });
    return hello.msg === 'isdbgrid' && !(hello.localTime instanceof Date);
  } catch {
    // mongo-java-server has no `hello` command.
    return false;
  }
}

const DOCUMENTDB_KIND =
  'DocumentDB (PostgreSQL 15 with pg_documentdb, through its gateway): real indexes, durable writes';

async function connected(
  id: MongoChoice,
  uri: string,
  describe: (admin: MongoClient) => Promise<Pick<BenchServer, 'name' | 'kind'>>,
  stop: () => Promise<void>,
): Promise<MongoTarget> {
  let admin: MongoClient | undefined;
  try {
    admin = await MongoClient.connect(uri, { serverSelectionTimeoutMS: 10_000 });
    const info: BenchServer = { id, ...(await describe(admin)), version: await version(admin) };
    return { info, uri, admin, stop };
  } catch (err) {
    await admin?.close().catch(() => undefined);
    await stop().catch(() => undefined);
    throw err;
  }
}

/** DocumentDB from BENCH_DOCUMENTDB_URI or the kit; a string says why there is none. */
export async function documentDbTarget(
  kit: string,
  log: (line: string) => void,
): Promise<MongoTarget | string> {
  const describe = async () => ({ name: 'DocumentDB', kind: DOCUMENTDB_KIND });
  const given = process.env[DOCUMENTDB_URI_ENV];
  if (given) return connected('documentdb', given, describe, async () => {});
  const build = path.join(kit, 'build.sh');
  if (!existsSync(build)) return `no ${DOCUMENTDB_URI_ENV} and no DocumentDB kit at ${kit}`;
  const check = await run(build, ['--check'], process.env, 30_000);
  if (check.code !== 0) {
    return `the DocumentDB kit at ${kit} is not built (run ${build}, or set ${DOCUMENTDB_URI_ENV})`;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drover-bench-documentdb-'));
  log(`starting DocumentDB from ${kit}`);
  const started = await run(
    path.join(kit, 'start.sh'),
    [dir],
    { ...process.env, DOCUMENTDB_NO_BUILD: '1' },
    START_TIMEOUT_MS,
  );
  const stop = async (): Promise<void> => {
    const stopped = await run(
      path.join(kit, 'stop.sh'),
      [dir, '--clean'],
      process.env,
      STOP_TIMEOUT_MS,
    );
    if (stopped.code !== 0) log(`DocumentDB stop failed: ${stopped.stderr.trim().slice(-500)}`);
    rmSync(dir, { recursive: true, force: true });
  };
  const uri = started.stdout.trim();
  if (started.code !== 0 || !uri) {
    await stop();
    return `DocumentDB did not start: ${started.stderr.trim().slice(-500)}`;
  }
  return connected('documentdb', uri, describe, stop);
}

const DEFAULT_NAMES: Record<TestServer['kind'], Pick<BenchServer, 'name' | 'kind'>> = {
  java: {
    name: 'mongo-java-server',
    kind: 'mongo-java-server, the in-memory stand-in: no secondary index, every query scans',
  },
  'memory-server': { name: 'mongod', kind: 'mongod (mongodb-memory-server)' },
  uri: { name: 'MONGODB_URI', kind: 'MongoDB at MONGODB_URI' },
};

/** MONGODB_URI, else the test suite's server (mongod, else mongo-java-server). */
export async function defaultTarget(): Promise<MongoTarget> {
  const server = await startServer();
  return connected(
    'default',
    server.uri,
    async (admin) =>
      server.kind === 'uri' && (await isDocumentDb(admin))
        ? { name: 'DocumentDB', kind: `${DOCUMENTDB_KIND} (MONGODB_URI)` }
        : DEFAULT_NAMES[server.kind],
    () => server.stop(),
  );
}
