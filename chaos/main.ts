/**
 * `npm run chaos`: the full chaos run (see run.ts). Uses MONGODB_URI or DROVER_TEST_URI when
 * set, else starts the java stand-in server of the test harness. Prints the findings; the last
 * line is `runs=... kills=... cuts=... lost=... duplicated-completions=... overlaps=...`. Exits
 * non-zero on any violation.
 */
import 'reflect-metadata';
import { Command, InvalidArgumentError } from 'commander';
import { startJavaServer, TEST_URI_ENV, type TestServer } from '../test/support/server';
import { CHAOS_DEFAULTS, formatReport, runChaos } from './run';

function int(min: number): (value: string) => number {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`an integer >= ${min}`);
    return n;
  };
}

async function main(): Promise<number> {
  const d = CHAOS_DEFAULTS;
  const program = new Command('chaos')
    .description('burn down jobs while workers are killed and the database connection is cut')
    .option('--jobs <n>', 'jobs to put', int(1), d.jobs)
    .option('--workers <n>', 'worker processes alive at a time', int(1), d.workers)
    .option('--slots <n>', 'jobs run at once per worker', int(1), d.slots)
    .option('--kills <n>', 'workers to kill -9 (each is replaced)', int(0), d.kills)
    .option('--cuts <n>', 'database connection cuts', int(0), d.cuts)
    .option('--seconds <n>', 'time bound of the run', int(10), d.seconds)
    .option('--lock-timeout-ms <n>', 'lock timeout of the queue', int(50), d.lockTimeoutMs)
    .option('--cut-max-ms <n>', 'longest connection cut', int(300), d.cutMaxMs)
    .option('--seed <n>', 'seed of the job mix and the chaos schedule', int(0))
    .option('--keep-db', 'keep the database for inspection', false)
    .parse();
  const opts = program.opts<{
    jobs: number;
    workers: number;
    slots: number;
    kills: number;
    cuts: number;
    seconds: number;
    lockTimeoutMs: number;
    cutMaxMs: number;
    seed?: number;
    keepDb: boolean;
  }>();
  const given = process.env.MONGODB_URI || process.env[TEST_URI_ENV];
  const server: TestServer | undefined = given ? undefined : await startJavaServer();
  const uri = given || (server as TestServer).uri;
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log(`chaos: MongoDB at ${uri}${server ? ' (java stand-in started for this run)' : ''}`);
  try {
    const report = await runChaos({
      ...d,
      ...opts,
      heartbeatMs: Math.max(10, Math.floor(opts.lockTimeoutMs / 5)),
      reclaimEveryMs: Math.max(10, Math.floor(opts.lockTimeoutMs / 4)),
      seed: opts.seed ?? Math.floor(Math.random() * 2 ** 31),
      uri,
      log,
    });
    for (const line of formatReport(report)) log(line);
    return report.violations === 0 ? 0 : 1;
  } finally {
    await server?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`chaos failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(2);
  },
);
