/**
 * Type tests of the public API: each `@ts-expect-error` line must fail to compile, so `tsc`
 * (run by `npm test`) fails if the API stops rejecting it. The runtime part only checks the
 * accepted calls build what they say.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { BaseJob, JobType, QueueGroup, afterJobs, type JobContext, type JobState } from '../../lib';

@JobType('types.resize-image')
class ResizeImage extends BaseJob {
  url = '';
  width = 0;
  tags: string[] = [];
  async run(ctx: JobContext): Promise<void> {
    ctx.logger.debug({ url: this.url }, 'resize');
  }
}

@JobType('types.thumbnail')
class Thumbnail extends BaseJob<{ url: string; bytes: number }> {
  source = '';
  async run(): Promise<{ url: string; bytes: number }> {
    return { url: `${this.source}?thumb`, bytes: 10 };
  }
}

describe('public API types', () => {
  it('types what run() returns as returnValue, and the state of a job', async () => {
    const group = QueueGroup.inMemory();
    try {
      const q = await group.get('typed-results');
      await q.put(Thumbnail.create({ source: 'a.png' }, { id: 't1' }));
      await q.start();
      await q.waitFor('t1');
      const back = await q.get<Thumbnail>('t1');
      const bytes: number | undefined = back?.returnValue?.bytes;
      const state: JobState | undefined = back?.state;
      assert.equal(bytes, 10);
      assert.equal(state, 'completed');
      // @ts-expect-error the result's fields are typed
      const wrong: string | undefined = back?.returnValue?.bytes;
      void wrong;
    } finally {
      await group.close();
    }
  });

  it('refuses a run() whose return type is not the declared result', () => {
    @JobType('types.bad-result')
    class BadResult extends BaseJob<number> {
      // @ts-expect-error run() must return the declared result type
      async run(): Promise<string> {
        return 'x';
      }
    }
    assert.ok(BadResult.create() instanceof BaseJob);
  });

  it('ties the payload type to the job class', () => {
    const job = ResizeImage.create({ url: 'https://x/y.png', width: 200 });
    assert.ok(job instanceof ResizeImage);
    assert.equal(job.width, 200);

    // @ts-expect-error a field the class does not have
    ResizeImage.create({ colour: 'red' });
    // @ts-expect-error a field of the wrong type
    ResizeImage.create({ width: '200' });
    // @ts-expect-error BaseJob's own fields are not payload
    ResizeImage.create({ status: job.status });
    // @ts-expect-error methods are not payload
    ResizeImage.create({ run: async () => undefined });
    // @ts-expect-error options are checked too
    ResizeImage.create({}, { priority: 'high' });
  });

  it('rehydrates typed jobs and accepts dependency builders', async () => {
    const group = QueueGroup.inMemory();
    try {
      const q = await group.get('types');
      await q.put(ResizeImage.create({ url: 'a' }, { id: 'r1' }));
      const back = await q.get<ResizeImage>('r1');
      const url: string | undefined = back?.url;
      assert.equal(url, 'a');
      await q.put(ResizeImage.create({}, { id: 'r2', dependency: afterJobs(['r1']) }));
      // @ts-expect-error queue.put takes a job instance, not a plain object
      await q.put({ url: 'b' }).catch(() => undefined);
      q.on('completed', (e) => {
        const ms: number = e.durationMs;
        // @ts-expect-error event payloads are typed
        const nope: string = e.durationMs;
        void ms;
        void nope;
      });
    } finally {
      await group.close();
    }
  });
});
