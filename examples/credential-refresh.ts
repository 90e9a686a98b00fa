/**
 * The continuous-processing workload: simulation jobs need a valid authentication session, which
 * a person renews from time to time. A `beforeRun` hook hands each job the cached token; when the
 * token has expired it throws `HookWaitError('auth-required')`: the claimed job goes back to the
 * queue untouched, the workers stop claiming and wait, visibly, until a sign-in renews the token,
 * then carry on. A second process follows the jobs' events through the database.
 * Runs on MONGODB_URI, or on an embedded server like `npm run demo`.
 *
 *   npm run build && node dist/examples/credential-refresh.js
 */
import 'reflect-metadata';
import { setTimeout as delay } from 'node:timers/promises';
import { MongoClient } from 'mongodb';
import pino from 'pino';
import {
  BaseJob,
  HookWaitError,
  JobType,
  QueueGroup,
  RetryableError,
  type BeforeRunContext,
  type JobContext,
} from '../lib';
import { startServer } from '../test/support/server';

/** The session cache: a token valid until it expires. */
class Session {
  token = '';
  expiresAt = 0;
  signIns = 0;

  /** What a person signing in does. */
  signIn(validMs: number): void {
    this.signIns++;
    this.token = `token-${this.signIns}`;
    this.expiresAt = Date.now() + validMs;
  }

  /** The `beforeRun` hook: hand the job a valid token, or hold the workers. */
  hook = (ctx: BeforeRunContext): void => {
    if (Date.now() >= this.expiresAt) {
      throw new HookWaitError('auth-required', `session expired; waiting for a sign-in`);
    }
    if (ctx.job instanceof Simulation) ctx.job.token = this.token;
  };
}

/** One simulation run with one set of parameters; the API throttles now and then. */
@JobType('example.simulation')
class Simulation extends BaseJob {
  scenario = '';
  token = '';
  result = '';
  async run(ctx: JobContext): Promise<void> {
    await delay(30 + Math.random() * 50, undefined, { signal: ctx.signal });
    if (ctx.attempt === 0 && Math.random() < 0.1) {
      throw new RetryableError('API throttled (429)', { retryAfterMs: 100 });
    }
    this.result = `${this.scenario} ok with ${this.token}`;
  }
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  const server = process.env.MONGODB_URI ? undefined : await startServer();
  const uri = process.env.MONGODB_URI ?? server?.uri ?? '';
  const client = await MongoClient.connect(uri);
  const db = `drover_credentials_${Date.now()}`;
  say(`credential-refresh example on ${uri} (database ${db})`);
  const session = new Session();
  const tokensUsed = new Map<string, number>();
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
  const worker = await QueueGroup.connect({
    client,
    db,
    logger,
    defaults: { workers: 4, heartbeatMs: 200, lockTimeoutMs: 3_000 },
    hooks: {
      beforeRun: [session.hook],
      afterRun: [
        ({ job, state }) => {
          if (job instanceof Simulation && state === 'completed') {
            tokensUsed.set(job.token, (tokensUsed.get(job.token) ?? 0) + 1);
          }
        },
      ],
      retryMinMs: 100,
      retryMaxMs: 400,
    },
  });
  const watcher = await QueueGroup.connect({ client, db, logger });
  try {
    worker.hooks.on('waiting', (e) => say(`[worker] waiting: ${e.state} (${e.message})`));
    worker.hooks.on('resumed', (e) =>
      say(`[worker] resumed after ${e.waitedMs} ms in ${e.state} (${e.retries} retries)`),
    );
    const follower = watcher.follow({ queue: 'simulations', pollMs: 100 });
    let completed = 0;
    follower.on('completed', () => completed++);
    follower.on('retrying', (e) => say(`[follower] ${e.id} retrying: ${e.error}`));

    const queue = await worker.get('simulations');
    const total = 60;
    await queue.putMany(
      Array.from({ length: total }, (_, i) => Simulation.create({ scenario: `scenario-${i}` })),
    );
    session.signIn(700);
    say(`signed in: ${session.token}, valid 700 ms; ${total} simulations queued`);
    await queue.start();

    // The session expires while jobs remain; someone signs in again a little later.
    let lastState = '';
    let signedInAgain = false;
    for (;;) {
      const stats = await queue.stats();
      const state = worker.hooks.state();
      if (state.state !== lastState) {
        lastState = state.state;
        say(
          `[worker] state ${state.state}: ${stats.completed} completed, ${stats.pending} pending, ${stats.running} running`,
        );
      }
      const waitedMs = Date.now() - (state.since?.getTime() ?? Date.now());
      if (state.state === 'auth-required' && !signedInAgain && waitedMs > 800) {
        signedInAgain = true;
        session.signIn(60_000);
        say(`signed in again: ${session.token}`);
      }
      if (stats.completed === total) break;
      await delay(50);
    }
    await delay(300);
    const state = worker.hooks.state();
    say(`all ${total} simulations completed; follower saw ${completed} completions`);
    say(`tokens used: ${[...tokensUsed].map(([t, n]) => `${t} x${n}`).join(', ')}`);
    say(
      `waits: ${JSON.stringify(state.waits)}, waited ${state.waitedMs} ms, ` +
        `${state.released} claimed jobs released untouched`,
    );
  } finally {
    await watcher.close();
    await worker.close();
    await client
      .db(db)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
    await server?.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `credential-refresh example failed: ${err instanceof Error ? err.stack : String(err)}\n`,
  );
  process.exit(1);
});
