/**
 * A private redis-server for the BullMQ runs: started on a free loopback port with persistence
 * off (`--save '' --appendonly no`), stopped at the end. Absent binary = BullMQ is skipped.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { Redis as RedisClient } from 'ioredis';

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

export interface RedisServer {
  host: string;
  port: number;
  version: string;
  /** A short-lived client for INFO and FLUSHALL (not metered: created before the patch matters). */
  admin: RedisClient;
  stop(): Promise<void>;
}

/** Path of redis-server, or undefined when it is not installed. */
export function findRedisServer(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const p = found.stdout.trim();
  return found.status === 0 && p ? p : undefined;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * redis-server runs under a small shell that kills it when its stdin closes, which happens when
 * this process exits for any reason (a SIGKILL included), so no server outlives the benchmark.
 */
const GUARD =
  'bin=$1; shift; "$bin" "$@" & pid=$!; echo "REDIS_PID $pid"; read line; kill $pid; wait $pid';

/** Starts redis-server on a free loopback port and waits until it accepts connections. */
export async function startRedis(binary: string): Promise<RedisServer> {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const child = spawn('sh', ['-c', GUARD, 'sh', binary, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (output += b.toString()));
  const serverPid = (): number | undefined => {
    const m = /REDIS_PID (\d+)/.exec(output);
    return m ? Number(m[1]) : undefined;
  };
  const killHard = (): void => {
    const pid = serverPid();
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    child.kill('SIGKILL');
  };
  process.on('exit', killHard);

  const stopChild = async (): Promise<void> => {
    child.stdin?.end();
    if (!(await waitExit(child, STOP_TIMEOUT_MS))) {
      killHard();
      await waitExit(child, STOP_TIMEOUT_MS);
    }
    process.off('exit', killHard);
  };
  try {
    await waitReady(child, () => output, START_TIMEOUT_MS);
  } catch (err) {
    await stopChild();
    throw err;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Redis = (require('ioredis') as typeof import('ioredis')).default;
  const admin = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
  const stop = async (): Promise<void> => {
    admin.disconnect();
    await stopChild();
  };
  const info = await admin.info('server');
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
  return { host: '127.0.0.1', port, version, admin, stop };
}

/** Calls per command since the server started, from `INFO commandstats`. */
export async function commandStats(admin: RedisClient): Promise<Map<string, number>> {
  const text = await admin.info('commandstats');
  const stats = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (m) stats.set(m[1], Number(m[2]));
  }
  return stats;
}

/** Commands the server executed between two snapshots, not counting our own INFO calls. */
export function commandsBetween(before: Map<string, number>, after: Map<string, number>): number {
  let total = 0;
  for (const [name, calls] of after) {
    if (name === 'info') continue;
    total += calls - (before.get(name) ?? 0);
  }
  return total;
}

/** Resolves once redis-server logs that it accepts connections; rejects if it exits first. */
function waitReady(child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new Error(`redis-server not ready in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const check = (): void => {
      if (/Ready to accept connections/.test(output())) finish();
    };
    const onExit = (code: number | null): void =>
      finish(new Error(`redis-server exited (${String(code)}): ${output().trim()}`));
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    child.stdout?.on('data', check);
    child.once('exit', onExit);
    check();
  });
}
