/**
 * Rate limits across processes: three worker processes run one queue limited to 5 claims per
 * 500 ms. Every window, counted from the attempts' recorded start (the time their claim was
 * granted at), holds at most 5 claims between the three, and every job completes once.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { rateWindow } from '../../lib/limits/rate-limit';
import type { JobInfo } from '../../lib';
import { eventually } from '../support/backends';
import { NoopJob } from '../support/jobs';
import { SharedDeployment } from './deployment';

const PROCESSES = 3;
const JOBS = 30;
const LIMIT = { max: 5, perMs: 500 };

describe('multi-process: a rate limit shared by 3 processes', function () {
  this.timeout(60_000);

  const deployment = new SharedDeployment('rate_process', 'rl');

  before(async () => deployment.open());

  after(async function () {
    this.timeout(30_000);
    await deployment.close();
  });

  it('never claims more than max per window between them, and completes every job', async () => {
    const workers = Array.from({ length: PROCESSES }, () =>
      deployment.spawn({
        queue: 'limited',
        workers: 4,
        lockTimeoutMs: 20_000,
        heartbeatMs: 1_000,
        rateLimit: LIMIT,
      }),
    );
    await Promise.all(workers.map((w) => w.waitReady()));
    const queue = await deployment.group.get('limited');
    await queue.putMany(
      Array.from({ length: JOBS }, (_, i) => NoopJob.create({}, { id: `rl-${i}` })),
    );
    await eventually(
      `${JOBS} completed`,
      async () => (await queue.stats()).completed === JOBS,
      45_000,
    );
    const infos: JobInfo[] = [];
    for await (const info of queue.jobInfo()) infos.push(info);
    assert.equal(infos.length, JOBS, 'one attempt each');
    const perWindow = new Map<number, number>();
    const byPid = new Set<string>();
    for (const info of infos) {
      assert.ok(info.timeInfo.start, `${info._id} started`);
      const w = rateWindow(LIMIT, info.timeInfo.start).start.getTime();
      perWindow.set(w, (perWindow.get(w) ?? 0) + 1);
      byPid.add(info.status.owner.split(':')[1]);
    }
    const counts = [...perWindow.values()];
    assert.ok(
      counts.every((n) => n <= LIMIT.max),
      `claims per window: ${counts.join(', ')}`,
    );
    console.log(
      `      ${JOBS} jobs in ${perWindow.size} windows of ${LIMIT.perMs} ms, ` +
        `claims per window ${counts.join(',')}, from ${byPid.size} processes`,
    );
  });
});
