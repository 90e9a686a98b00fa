/**
 * Operator injection, property-based, against both stores: every string that reaches a database
 * filter (job and attempt IDs, queue names, job type names, scopes, dependency edges, management
 * filters and cursors, the dashboard's query string, the CLI's arguments) is given operator-shaped
 * values (`{ "$ne": null }`, `{ "$gt": "" }`, `$`-prefixed and JSON-looking strings...). Each is
 * rejected with InvalidArgumentError (the CLI exits 2, the dashboard answers 400), and the jobs
 * already stored are unchanged afterwards.
 * Failures print fast-check's seed; FUZZ_SEED=<seed> replays it.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import {
  afterJobs,
  BaseJob,
  InvalidArgumentError,
  Registry,
  type Queue,
  type QueueGroup,
} from '../../lib';
import { Management } from '../../lib/ops/management/management';
import { runCli } from '../../lib/ops/cli/program';
import { DashboardApi } from '../../lib/ops/dashboard/api';
import { Throughput } from '../../lib/ops/dashboard/overview';
import { testUri } from '../support/server';
import type { Backend } from '../support/backends';
import { FuzzPayloadJob } from '../support/chaos-jobs';
import {
  BACKENDS,
  count,
  describeError,
  fcParams,
  fuzzSummary,
  operatorLike,
  typedOrOk,
} from './fuzz';

type EntryPoint = [string, (value: unknown) => Promise<unknown> | unknown];

/** Operator-like values as the strings a query string or a command line carries. */
const operatorText = operatorLike.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));

class Unregistered extends BaseJob {
  async run(): Promise<void> {}
}

for (const [name, makeBackend] of BACKENDS) {
  describe(`fuzz: operator injection (${name})`, function () {
    this.timeout(60_000);
    const tag = `injection/${name}`;
    let backend: Backend;
    let group: QueueGroup;
    let queue: Queue;
    let management: Management;
    let n = 0;
    /** The stored jobs, as seeded: nothing may change them. */
    let seeded: string;

    const SEEDED = ['pending-1', 'pending-2', 'later'];
    const snapshot = async () => {
      const rows: string[] = [];
      for await (const d of queue.jobInfo()) {
        if (SEEDED.includes(d._id)) rows.push(`${d._id} ${d.state} ${d.status.modCount}`);
      }
      return rows.sort().join('\n');
    };

    before(async () => {
      backend = makeBackend();
      await backend.reset();
      group = backend.group();
      queue = await group.get('victims');
      management = new Management(group);
      await queue.putMany([
        FuzzPayloadJob.create({ data: 1 }, { id: 'pending-1' }),
        FuzzPayloadJob.create({ data: 2 }, { id: 'pending-2', scopes: ['s'] }),
        FuzzPayloadJob.create({ data: 3 }, { id: 'later', delayMs: 3_600_000 }),
      ]);
      seeded = await snapshot();
    });
    after(async () => {
      assert.equal(await snapshot(), seeded, 'the stored jobs are unchanged');
      await backend.close();
      console.log(fuzzSummary(tag));
    });

    const id = (v: unknown) => v as string;
    const ENTRY_POINTS: EntryPoint[] = [
      ['Queue.get', (v) => queue.get(id(v))],
      ['Queue.getDocument', (v) => queue.getDocument(id(v))],
      ['Queue.getAttempt', (v) => queue.getAttempt(id(v), 0)],
      ['Queue.getAllAttempts', (v) => queue.getAllAttempts(id(v))],
      ['Queue.abort', (v) => queue.abort(id(v))],
      ['Queue.retryNow', (v) => queue.retryNow(id(v))],
      ['Queue.waitFor', (v) => queue.waitFor(id(v), { timeoutMs: 10 })],
      ['QueueGroup.get', (v) => group.get(id(v))],
      ['QueueGroup.abort', (v) => group.abort(id(v))],
      ['QueueGroup.queueInfo', (v) => group.queueInfo(id(v))],
      ['QueueGroup.pause', (v) => group.pause(id(v))],
      ['QueueGroup.resume', (v) => group.resume(id(v))],
      ['QueueGroup.pauseType (queue)', (v) => group.pauseType(id(v), 'fuzz-payload')],
      ['QueueGroup.pauseType (type)', (v) => group.pauseType('victims', id(v))],
      ['QueueGroup.resumeType (type)', (v) => group.resumeType('victims', id(v))],
      [
        'put: job ID',
        (v) => {
          const job = FuzzPayloadJob.create({ data: 1 });
          job.id = id(v);
          job.retryInfo.baseJobId = '';
          return queue.put(job);
        },
      ],
      [
        'put: dependency edge',
        (v) =>
          queue.put(FuzzPayloadJob.create({}, { id: `d${++n}`, dependency: afterJobs([id(v)]) })),
      ],
      ['Registry.register', (v) => new Registry().register(Unregistered, id(v))],
      ['Management.counts', (v) => management.counts({ queue: id(v) })],
      ['Management.list queue', (v) => management.list({ queue: id(v) })],
      ['Management.list type', (v) => management.list({ type: id(v) })],
      ['Management.list state', (v) => management.list({ state: v as 'pending' })],
      ['Management.list idContains', (v) => management.list({ idContains: id(v) })],
      ['Management.list createdAfter', (v) => management.list({ createdAfter: v as Date })],
      ['Management.list cursor', (v) => management.list({}, { cursor: id(v) })],
      ['Management.list order', (v) => management.list({}, { order: v as 'id' })],
      ['Management.list extra field', (v) => management.list({ [String(v)]: 'x' } as object)],
      ['Management.job', (v) => management.job(id(v))],
      ['Management.abort', (v) => management.abort(id(v))],
      ['Management.retry', (v) => management.retry(id(v))],
      ['Management.requeue', (v) => management.requeue(id(v))],
      ['Management.complete', (v) => management.complete(id(v))],
      ['Management.delete', (v) => management.delete(id(v), { force: true })],
      ['Management.pause', (v) => management.pause(id(v))],
      ['Management.pause type', (v) => management.pause('victims', { type: id(v) })],
      ['Management.resume', (v) => management.resume(id(v))],
      ['Management.prune queue', (v) => management.prune({ queue: id(v), olderThanMs: 0 })],
      [
        'Management.prune states',
        (v) => management.prune({ states: [v as 'failed'], olderThanMs: 0 }),
      ],
    ];

    for (const [what, call] of ENTRY_POINTS) {
      it(`rejects operators through ${what}`, async () => {
        await fc.assert(
          fc.asyncProperty(operatorLike, async (value) => {
            const outcome = await typedOrOk(`${tag} ${what}`, () => call(value), {
              allowed: [InvalidArgumentError],
            });
            assert.equal(outcome, 'rejected', `${what} accepted ${JSON.stringify(value)}`);
          }),
          fcParams(25),
        );
      });
    }

    // Scopes are free text (a string value is never an operator): only operator objects and
    // `$`-prefixed strings must be rejected.
    const scopeOperators = operatorLike.filter((v) => typeof v !== 'string' || v.startsWith('$'));
    for (const kind of ['scopes', 'enqueueScopes'] as const) {
      it(`rejects operators through put: ${kind}`, async () => {
        await fc.assert(
          fc.asyncProperty(scopeOperators, async (value) => {
            // Rejected when the job is built (a non-string scope) or when it is put.
            const put = () =>
              queue.put(FuzzPayloadJob.create({}, { id: `s${++n}`, [kind]: [value as string] }));
            const outcome = await typedOrOk(`${tag} put: ${kind}`, put, {
              allowed: [InvalidArgumentError],
            });
            assert.equal(outcome, 'rejected', `${kind} accepted ${JSON.stringify(value)}`);
          }),
          fcParams(25),
        );
      });
    }

    it('answers 400 to operators in the dashboard query string and paths', async () => {
      const api = new DashboardApi(management, new Throughput(), () => new Date());
      const keys = fc.constantFrom('queue', 'type', 'state', 'id', 'cursor', 'limit');
      await fc.assert(
        fc.asyncProperty(keys, operatorText, async (key, value) => {
          const params = new URLSearchParams({ [key]: value, [`${key}[$ne]`]: '' });
          // Empty values count as absent: nothing to reject.
          if (value.trim() === '') return;
          await typedOrOk(`${tag} dashboard`, () => api.jobs(params), {
            allowed: [InvalidArgumentError],
          });
          await typedOrOk(`${tag} dashboard`, () => api.jobAction(value, 'abort'), {
            allowed: [InvalidArgumentError],
          });
        }),
        fcParams(60),
      );
    });

    if (name === 'mongodb') {
      it('exits 2 on operators in the CLI arguments', async () => {
        const sink = () =>
          new Writable({
            write(_chunk, _enc, done) {
              done();
            },
          });
        const base = ['node', 'drover', '--uri', testUri(), '--db', 'drover_fuzz_cli', '--json'];
        const commands = (v: string): string[][] => [
          ['ls', '--queue', v],
          ['ls', '--type', v],
          ['ls', '--state', v],
          ['ls', '--id', v],
          ['ls', '--cursor', v],
          ['show', v],
          ['abort', v],
          ['retry', v],
          ['complete', v],
          ['requeue', v],
          ['delete', v],
          ['stats', '--queue', v],
          ['pause', v],
          ['pause', 'victims', '--type', v],
          ['resume', v],
          ['prune', '--queue', v],
        ];
        const values = fc.sample(
          operatorText.filter((v) => v !== '' && !v.startsWith('-')),
          {
            numRuns: 6,
            seed: 42,
          },
        );
        for (const value of values) {
          for (const args of commands(value)) {
            const code = await runCli([...base, ...args], {
              streams: { stdout: sink(), stderr: sink() },
              env: {},
            }).catch((err: unknown) => assert.fail(`${args.join(' ')}: ${describeError(err)}`));
            assert.equal(code, 2, `drover ${args.join(' ')} exited ${code}`);
            count(`${tag} CLI`, 'rejected');
          }
        }
      });
    }
  });
}
