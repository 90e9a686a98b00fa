/**
 * Tracing across processes: jobs put in this process (its own SDK, in-memory exporter) run in a
 * forked worker (another SDK); the worker's spans of each run link to the put spans recorded
 * here, carry the messaging attributes, hold the job's own span as a child, and record the error
 * of a failed run. The context travels in the job document only.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import path from 'node:path';
import { QueueGroup } from '../../lib';
import { eventually, FAST, testLogger } from '../support/backends';
import { ForkedWorker, forkWorker } from '../support/fork';
import { freshDb, testUri } from '../support/server';
import { TestTracing, TracedJob, traceparentOf, type SpanRecord } from '../support/tracing';
import {
  TRACING_WORKER_ENV,
  type TracingWorkerConfig,
  type TracingWorkerMessage,
} from './tracing-worker';

const QUEUE = 'cross-process';

class TracingWorker extends ForkedWorker<TracingWorkerMessage> {
  ready = false;
  readonly finished = new Map<string, string>();
  readonly spans: SpanRecord[] = [];

  protected onMessage(msg: TracingWorkerMessage): void {
    if (msg.kind === 'ready') this.ready = true;
    else {
      this.finished.set(msg.jobId, msg.state);
      this.spans.push(...msg.spans);
    }
  }
}

describe('tracing across processes', function () {
  this.timeout(60_000);
  const dbName = freshDb('tracing');
  let tracing: TestTracing;
  let group: QueueGroup;
  let worker: TracingWorker | undefined;

  before(async () => {
    tracing = new TestTracing();
    group = await QueueGroup.connect({
      uri: testUri(),
      db: dbName,
      collectionPrefix: 'tr',
      logger: testLogger,
      defaults: FAST,
    });
  });

  after(async () => {
    await worker?.close();
    await group?.close();
    await tracing?.shutdown();
  });

  it('links the runs in another process to the puts made here', async () => {
    const config: TracingWorkerConfig = { db: dbName, prefix: 'tr', queue: QUEUE };
    const script = path.join(__dirname, 'tracing-worker.js');
    const w = (worker = new TracingWorker(forkWorker(script, TRACING_WORKER_ENV, config)));
    await eventually(
      'worker ready',
      () => {
        if (w.exited) throw new Error(`worker exited before ready:\n${w.stderr}`);
        return w.ready;
      },
      30_000,
    );

    const queue = await group.get(QUEUE);
    await queue.put(TracedJob.create({}, { id: 'ok' }));
    await queue.put(TracedJob.create({ fail: 'card declined' }, { id: 'bad', retryable: false }));
    await eventually('both jobs finished in the worker', () => w.finished.size === 2, 30_000);
    assert.deepEqual(Object.fromEntries(w.finished), { ok: 'completed', bad: 'failed' });

    const puts = new Map(
      tracing
        .spans()
        .filter((s) => s.name === `send ${QUEUE}`)
        .map((s) => [s.attributes['messaging.message.id'], s]),
    );
    assert.deepEqual([...puts.keys()].sort(), ['bad', 'ok']);
    for (const [id, put] of puts) {
      assert.equal(put.kind, 3);
      assert.equal(
        (await queue.getDocument(String(id)))?.traceContext?.traceparent,
        traceparentOf(put),
      );
    }

    for (const id of ['ok', 'bad']) {
      const put = puts.get(id);
      assert.ok(put);
      const runs = w.spans.filter(
        (s) => s.name === `process ${QUEUE}` && s.attributes['messaging.message.id'] === id,
      );
      assert.equal(runs.length, 1, `one run span of ${id}`);
      const run = runs[0];
      assert.equal(run.kind, 4);
      assert.equal(run.scope, 'drover');
      assert.deepEqual(run.links, [{ traceId: put.traceId, spanId: put.spanId }]);
      assert.equal(run.attributes['messaging.system'], 'drover');
      assert.equal(run.attributes['messaging.destination.name'], QUEUE);
      assert.equal(run.attributes['messaging.operation.type'], 'process');
      assert.equal(run.attributes['messaging.drover.job.attempt'], 0);
      const user = w.spans.filter((s) => s.name === 'user-work' && s.parentSpanId === run.spanId);
      assert.equal(user.length, 1, `the job's own span nests under the run of ${id}`);
      assert.equal(user[0].traceId, run.traceId);
    }
    const failed = w.spans.find(
      (s) => s.name === `process ${QUEUE}` && s.attributes['messaging.message.id'] === 'bad',
    );
    assert.equal(failed?.status.code, 2);
    assert.equal(failed?.status.message, 'card declined');
    assert.deepEqual(failed?.events, ['exception']);
  });
});
