/**
 * Test harness: finds a MongoDB server for the test suite.
 *
 * Order (see CONTRIBUTING.md):
 * 1. `MONGODB_URI` (or `DROVER_TEST_URI`, set by a parent test process) — used as is;
 * 2. mongodb-memory-server-core, when a mongod binary is available (`MONGOMS_SYSTEM_BINARY`,
 *    `mongod` on PATH, a cached download, or a download that succeeds within a short timeout);
 * 3. mongo-java-server (in-memory) started by test/support/java/Launcher.java on a free loopback
 *    port; its jars are fetched from Maven Central by scripts/fetch-test-server.sh.
 *
 * `DROVER_TEST_SERVER=java|memory-server` forces one of the last two (no probing).
 */
import { ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MongoClient, MongoServerError } from 'mongodb';
import type { MongoMemoryServer } from 'mongodb-memory-server-core';

/** Environment variable through which the chosen server's URI reaches child processes. */
export const TEST_URI_ENV = 'DROVER_TEST_URI';

/** Where the server came from. */
export type ServerKind = 'uri' | 'memory-server' | 'java';

/** A running (or externally provided) server. */
export interface TestServer {
  uri: string;
  kind: ServerKind;
  /** Stops the server if this process started it; a no-op for `kind: 'uri'`. */
  stop(): Promise<void>;
}

/** A mongo-java-server child process owned by this process. */
export interface JavaServer extends TestServer {
  kind: 'java';
  port: number;
  pid: number;
  /** Kills the server abruptly (default SIGKILL) and waits for it to exit; data is lost. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Options of {@link startJavaServer}. */
export interface JavaServerOptions {
  /** Port to bind on 127.0.0.1; 0 (default) picks a free one. Reuse a port to "restart" a server. */
  port?: number;
  /** How long to wait for the server to report its port. */
  startTimeoutMs?: number;
}

const JAVA_START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;
/** Time allowed to locate or download a mongod binary before falling back to the java server. */
const MONGOMS_PROBE_TIMEOUT_MS = Number(process.env.DROVER_MONGOMS_PROBE_TIMEOUT_MS ?? 30_000);
/** A failed download is remembered this long, so every run does not pay the probe again. */
const MONGOMS_NEGATIVE_CACHE_MS = 24 * 60 * 60 * 1000;

// Servers started by this process, killed on exit so that no test run leaves one behind.
const javaChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of javaChildren) child.kill('SIGKILL');
});

let rootDirCache: string | undefined;

/** The project root: the nearest ancestor of this file holding the drover package.json. */
export function projectRoot(): string {
  if (rootDirCache !== undefined) return rootDirCache;
  // Works both from test/support (tsx) and dist/test/support (compiled).
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (
      existsSync(pkg) &&
      (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'drover'
    ) {
      rootDirCache = dir;
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`drover package.json not found above ${__dirname}`);
    dir = parent;
  }
}

function note(message: string): void {
  process.stderr.write(`[drover test server] ${message}\n`);
}

/**
 * Finds or starts a MongoDB server in the harness order (env URI, mongodb-memory-server,
 * mongo-java-server). Call once per test run; child processes should read {@link TEST_URI_ENV}.
 */
export async function startServer(): Promise<TestServer> {
  const given = process.env.MONGODB_URI || process.env[TEST_URI_ENV];
  if (given) {
    await ping(given);
    note(`using the server at ${given}`);
    return { uri: given, kind: 'uri', stop: async () => {} };
  }
  const forced = process.env.DROVER_TEST_SERVER;
  if (forced !== undefined && forced !== 'java' && forced !== 'memory-server') {
    throw new Error(`DROVER_TEST_SERVER must be "java" or "memory-server", got "${forced}"`);
  }
  if (forced !== 'java') {
    const memory = await tryMemoryServer(forced === 'memory-server');
    if (memory) return memory;
    if (forced === 'memory-server') {
      throw new Error('DROVER_TEST_SERVER=memory-server but no mongod binary could be had');
    }
  }
  const java = await startJavaServer();
  note(`using mongo-java-server at ${java.uri}`);
  return java;
}

/** Fails fast with a readable message when a given URI does not answer. */
async function ping(uri: string): Promise<void> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
  try {
    await client.db('admin').command({ ping: 1 });
  } catch (err) {
    throw new Error(`MongoDB at ${uri} does not answer: ${(err as Error).message}`, { cause: err });
  } finally {
    await client.close();
  }
}

function mongomsMarkerPath(): string {
  return path.join(projectRoot(), '.cache', 'mongoms-unavailable');
}

/** True when a recent run already found that no mongod binary can be had. */
function mongomsKnownUnavailable(): boolean {
  try {
    return Date.now() - statSync(mongomsMarkerPath()).mtimeMs < MONGOMS_NEGATIVE_CACHE_MS;
  } catch {
    return false;
  }
}

function findOnPath(binary: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  const p = found.stdout.trim();
  return found.status === 0 && p ? p : undefined;
}

/**
 * Locates (or downloads) a mongod binary in a child process, so a hanging download can be
 * killed at the timeout without leaving sockets or timers in the test process.
 */
function probeMongodBinary(): Promise<boolean> {
  const script =
    "require(require.resolve('mongodb-memory-server-core', { paths: [process.cwd()] }))" +
    '.MongoBinary.getPath().then((p) => { console.log(p); process.exit(0); },' +
    ' (e) => { console.error(e.message); process.exit(1); });';
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-e', script],
      { cwd: projectRoot(), timeout: MONGOMS_PROBE_TIMEOUT_MS, killSignal: 'SIGKILL' },
      (err, _stdout, stderr) => {
        if (err) {
          const why = err.killed
            ? `probe timed out after ${MONGOMS_PROBE_TIMEOUT_MS} ms`
            : stderr.trim().split('\n')[0] || err.message;
          note(`no mongod binary for mongodb-memory-server (${why}); will not retry for a day`);
        }
        resolve(!err);
      },
    );
  });
}

/**
 * A mongod through mongodb-memory-server when a binary can be had (on PATH, cached, or
 * downloaded within the probe timeout); undefined otherwise. Unless `force`, a failed probe is
 * remembered for a day, so the next call answers at once.
 */
export async function tryMemoryServer(force: boolean): Promise<TestServer | undefined> {
  if (!process.env.MONGOMS_SYSTEM_BINARY) {
    const onPath = findOnPath('mongod');
    if (onPath) process.env.MONGOMS_SYSTEM_BINARY = onPath;
  }
  if (!process.env.MONGOMS_SYSTEM_BINARY) {
    if (!force && mongomsKnownUnavailable()) return undefined;
    if (!(await probeMongodBinary())) {
      mkdirSync(path.dirname(mongomsMarkerPath()), { recursive: true });
      writeFileSync(mongomsMarkerPath(), `${new Date().toISOString()}\n`);
      return undefined;
    }
  }
  try {
    // Loaded lazily: the java path should not pay for (or depend on) this module.
    const { MongoMemoryServer: Mms } = await import('mongodb-memory-server-core');
    const mms: MongoMemoryServer = await Mms.create({ instance: { ip: '127.0.0.1' } });
    const uri = mms.getUri();
    note(`using mongodb-memory-server at ${uri}`);
    return {
      uri,
      kind: 'memory-server',
      stop: async () => {
        await mms.stop({ doCleanup: true, force: true });
      },
    };
  } catch (err) {
    note(`mongodb-memory-server failed to start: ${(err as Error).message}`);
    return undefined;
  }
}

/** Runs scripts/fetch-test-server.sh (idempotent) so the java server's jars are in .cache. */
export function ensureJavaJars(): string {
  const root = projectRoot();
  const result = spawnSync('bash', [path.join(root, 'scripts', 'fetch-test-server.sh')], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (result.status !== 0) {
    throw new Error(`scripts/fetch-test-server.sh failed (status ${String(result.status)})`);
  }
  return path.join(root, '.cache', 'mongo-java-server');
}

/**
 * Starts an independent mongo-java-server (in-memory) on 127.0.0.1. Besides being the harness's
 * fallback, tests that kill or restart a server use this to get one of their own.
 * The server exits when this process exits (its stdin closes), even after a kill -9.
 */
export async function startJavaServer(options: JavaServerOptions = {}): Promise<JavaServer> {
  const jars = ensureJavaJars();
  const launcher = path.join(projectRoot(), 'test', 'support', 'java', 'Launcher.java');
  const child = spawn('java', ['-cp', path.join(jars, '*'), launcher, String(options.port ?? 0)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  javaChildren.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      javaChildren.delete(child);
      resolve();
    });
  });
  const port = await readPort(child, options.startTimeoutMs ?? JAVA_START_TIMEOUT_MS);
  // Let this process exit without stopping the server explicitly; closing our end of stdin
  // (which happens when we exit) stops it.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  }

  /** Waits for exit, escalating to SIGKILL if the server ignores the polite request. */
  const waitExit = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, STOP_TIMEOUT_MS);
    });
    await Promise.race([exited, timeout]);
    clearTimeout(timer);
  };
  const uri = `mongodb://127.0.0.1:${port}`;
  return {
    uri,
    kind: 'java',
    port,
    pid: child.pid ?? -1,
    stop: async () => {
      child.stdin?.end();
      await waitExit();
    },
    kill: async (signal: NodeJS.Signals = 'SIGKILL') => {
      child.kill(signal);
      await waitExit();
    },
  };
}

/** Reads the launcher's `PORT <n>` line; rejects with its stderr if it dies or times out. */
function readPort(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const onStderr = (chunk: Buffer): void => {
      err += chunk.toString();
    };
    const onError = (e: Error): void => fail(e.message);
    const onExit = (code: number | null): void => fail(`exited with ${String(code)}`);
    const onStdout = (chunk: Buffer): void => {
      out += chunk.toString();
      const match = /PORT (\d+)/.exec(out);
      if (match) {
        done();
        resolve(Number(match[1]));
      }
    };
    // Remove only our own listeners: others (the exit watcher) must stay.
    const done = (): void => {
      clearTimeout(timer);
      child.off('error', onError);
      child.off('exit', onExit);
      child.stdout?.off('data', onStdout);
      child.stderr?.off('data', onStderr);
      // Keep draining so a chatty server never blocks on a full pipe.
      child.stdout?.resume();
      child.stderr?.resume();
    };
    const fail = (why: string): void => {
      done();
      child.kill('SIGKILL');
      reject(new Error(`mongo-java-server did not start: ${why}\n${err.trim()}`));
    };
    const timer = setTimeout(() => fail(`no port within ${timeoutMs} ms`), timeoutMs);
    child.stderr?.on('data', onStderr);
    child.stdout?.on('data', onStdout);
    child.once('error', onError);
    child.once('exit', onExit);
  });
}

/** The URI chosen by the root hooks (or a parent process); throws if none was set. */
export function testUri(): string {
  const uri = process.env[TEST_URI_ENV];
  if (!uri) {
    throw new Error(
      `${TEST_URI_ENV} is not set: run mocha with the root hooks (dist/test/support/hooks.js)`,
    );
  }
  return uri;
}

let dbCounter = 0;

/** A database name unique to this process and call (MongoDB limits names to 63 bytes). */
export function uniqueDbName(prefix: string): string {
  const clean = prefix.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 30) || 'test';
  dbCounter += 1;
  return `drover_${clean}_${process.pid}_${Date.now().toString(36)}_${dbCounter}`;
}

/**
 * Returns a database name unique to the calling test file and registers mocha hooks that drop it
 * after the suite. On an external server (MONGODB_URI) a suite with a failed test keeps its
 * database for inspection; DROVER_TEST_KEEP_DB=1 keeps every one. Call it inside the file's top
 * `describe`, so the hooks belong to that suite.
 */
export function freshDb(prefix: string): string {
  const name = uniqueDbName(prefix);
  let failed = false;
  afterEach(function () {
    if (this.currentTest?.state === 'failed') failed = true;
  });
  after(async function () {
    this.timeout(30_000);
    if (process.env.DROVER_TEST_KEEP_DB || (failed && process.env.MONGODB_URI)) {
      note(`kept database ${name}`);
      return;
    }
    await dropDatabase(name);
  });
  return name;
}

/** Drops a database on the test server, ignoring "not found" (nothing was written). */
export async function dropDatabase(name: string, uri: string = testUri()): Promise<void> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
  try {
    await client.db(name).dropDatabase();
  } catch (err) {
    if (!isNamespaceNotFound(err)) throw err;
  } finally {
    await client.close();
  }
}

/** True for the error mongo-java-server (and older servers) raise when dropping a missing namespace. */
export function isNamespaceNotFound(err: unknown): boolean {
  return err instanceof MongoServerError && (err.code === 26 || /ns not found/i.test(err.message));
}
