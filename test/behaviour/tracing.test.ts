/**
 * OpenTelemetry tracing in one process, on both stores, with the SDK's in-memory exporter: a put
 * is a producer span whose context is stored with the job; each attempt is a consumer span
 * linked to it, current inside `run()` (the job's own spans nest under it), with the messaging
 * attributes, and the error recorded on failure; `tracing: false` makes nothing. The same across
 * two processes: test/process/tracing.test.ts.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import type { QueueGroup } from '../../lib';
import {
  eventually,
  FAST,
  memoryBackend,
  mongoBackend,
  testLogger,
  type Backend,
} from '../support/backends';
import { TestTracing, TracedJob, traceparentOf, type SpanRecord } from '../support/tracing';

const PRODUCER = 3;
const CONSUMER = 4;
const ERROR = 2;

function only(spans: SpanRecord[], name: string): SpanRecord {
  const found = spans.filter((s) => s.name === name);
  assert.equal(found.length, 1, `one span ${name} in ${spans.map((s) => s.name).join(', ')}`);
  return found[0];
}

function tracingBehaviour(makeBackend: () => Backend): void {
  let backend: Backend;
  let group: QueueGroup;
  let tracing: TestTracing;

  before(() => {
    backend = makeBackend();
    tracing = new TestTracing();
  });
  beforeEach(async () => {
    await backend.reset();
    group = backend.group();
    tracing.reset();
  });
  after(async () => {
    await backend.close();
    await tracing.shutdown();
  });

  /** Waits until the job's newest attempt has finished (and its spans with it). */
  async function finished(queue: string, id: string): Promise<void> {
    const q = await group.get(queue);
    await eventually(`${id} finished`, async () => {
      const state = (await q.getDocument(id))?.state;
      return state === 'completed' || state === 'failed';
    });
  }

  it('puts in a producer span stored with the job; runs in a linked consumer span', async () => {
    const q = await group.get('traced');
    await q.put(TracedJob.create({}, { id: 'job-1' }));
    const put = only(tracing.spans(), 'send traced');
    assert.equal(put.kind, PRODUCER);
    assert.equal(put.scope, 'drover');
    assert.deepEqual(put.attributes, {
      'messaging.system': 'drover',
      'messaging.destination.name': 'traced',
      'messaging.operation.name': 'send',
      'messaging.operation.type': 'send',
      'messaging.message.id': 'job-1',
      'messaging.drover.job.type': 'test-traced',
    });
    assert.deepEqual((await q.getDocument('job-1'))?.traceContext, {
      traceparent: traceparentOf(put),
    });

    await q.start();
    await finished('traced', 'job-1');
    const spans = tracing.spans();
    const run = only(spans, 'process traced');
    assert.equal(run.kind, CONSUMER);
    assert.notEqual(run.traceId, put.traceId, 'a new trace');
    assert.equal(run.parentSpanId, undefined);
    assert.deepEqual(run.links, [{ traceId: put.traceId, spanId: put.spanId }]);
    assert.deepEqual(run.attributes, {
      'messaging.system': 'drover',
      'messaging.destination.name': 'traced',
      'messaging.operation.name': 'process',
      'messaging.operation.type': 'process',
      'messaging.message.id': 'job-1',
      'messaging.drover.job.type': 'test-traced',
      'messaging.drover.job.attempt': 0,
      'messaging.drover.job.attempt_id': 'job-1',
    });
    assert.equal(run.status.code, 0);
    const user = only(spans, 'user-work');
    assert.equal(user.traceId, run.traceId);
    assert.equal(user.parentSpanId, run.spanId, "the job's span nests under the run's");
  });

  it('records the error of a failed run on its span', async () => {
    const q = await group.get('failing');
    await q.put(TracedJob.create({ fail: 'no luck' }, { id: 'bad', retryable: false }));
    await q.start();
    await finished('failing', 'bad');
    const run = only(tracing.spans(), 'process failing');
    assert.equal(run.status.code, ERROR);
    assert.equal(run.status.message, 'no luck');
    assert.deepEqual(run.events, ['exception']);
  });

  it('links every attempt of a retried job to the one put', async () => {
    const q = await group.get('retried', { ...FAST });
    await q.put(TracedJob.create({ retryOnce: true }, { id: 'again' }));
    await q.start();
    await eventually('second attempt completed', async () => {
      const docs = await q.getAllAttempts('again');
      return docs.length === 2 && docs[1].status.completed;
    });
    await finished('retried', 'again');
    const spans = tracing.spans();
    const put = only(spans, 'send retried');
    const runs = spans.filter((s) => s.name === 'process retried');
    assert.deepEqual(
      runs.map((r) => r.attributes['messaging.drover.job.attempt']),
      [0, 1],
    );
    assert.deepEqual(
      runs.map((r) => r.attributes['messaging.message.id']),
      ['again', 'again'],
    );
    for (const run of runs)
      assert.deepEqual(run.links, [{ traceId: put.traceId, spanId: put.spanId }]);
    assert.equal(runs[0].status.code, ERROR);
    assert.equal(runs[1].status.code, 0);
  });

  it('puts a batch in one span: every job stores its context', async () => {
    const q = await group.get('batch');
    await q.putMany([
      TracedJob.create({}, { id: 'a' }),
      TracedJob.create({}, { id: 'b' }),
      TracedJob.create({}, { id: 'c' }),
    ]);
    const put = only(tracing.spans(), 'send batch');
    assert.equal(put.attributes['messaging.batch.message_count'], 3);
    assert.equal(put.attributes['messaging.message.id'], undefined);
    for (const id of ['a', 'b', 'c']) {
      assert.equal((await q.getDocument(id))?.traceContext?.traceparent, traceparentOf(put));
    }
  });

  it('makes no span and stores nothing with tracing: false', async () => {
    const off = backend.groupWith({ logger: testLogger, defaults: { tracing: false } });
    const q = await off.get('untraced');
    await q.put(TracedJob.create({}, { id: 'quiet' }));
    await q.start();
    await eventually(
      'completed',
      async () => (await q.getDocument('quiet'))?.state === 'completed',
    );
    assert.deepEqual(
      tracing.spans().map((s) => s.name),
      ['user-work'],
    );
    assert.equal((await q.getDocument('quiet'))?.traceContext, undefined);
  });
}

describe('tracing: in-memory', () => tracingBehaviour(memoryBackend));
describe('tracing: MongoDB', () => tracingBehaviour(mongoBackend));
