/**
 * OpenTelemetry tracing of puts and attempts through `@opentelemetry/api`, an optional peer
 * dependency: it is imported on first use, and when it is not installed (or a queue has
 * `tracing: false`) nothing happens. Without an SDK registered by the application the API's
 * spans are no-ops and nothing is stored either.
 *
 * - A put is one PRODUCER span, `send <queue>`. Its context is stored with each job it inserts
 *   (`traceContext`, a W3C `traceparent`), written and read here, so it needs no propagator
 *   configured and crosses processes with the job document.
 * - Each run of an attempt is one CONSUMER span, `process <queue>`, a new trace linked to the
 *   put's span (every attempt of a retried job links to the same put). It is the active span
 *   inside `run()`, so the job's own spans nest under it. A thrown error (or one the job added)
 *   is recorded on it with an error status; an abort of the run is an event.
 *
 * Attributes follow the OpenTelemetry messaging conventions (`messaging.system` = `drover`,
 * destination = the queue, operation, message ID = the job ID); drover's own go under
 * `messaging.drover.*` (job type, attempt number and attempt ID).
 */
// The module as `import()` loads it (its ESM build): the API keeps its state in one global, so
// spans made here and by an application that `require`s it meet.
import type * as Otel from '@opentelemetry/api' with { 'resolution-mode': 'import' };
import type { BaseJob } from '../job/base-job';
import { messageOf } from '../job/error-record';
import type { JobDocument, TraceContext } from '../types';

type Api = typeof Otel;

/** The instrumentation scope of drover's spans. */
export const TRACER_NAME = 'drover';

/** Attribute names of drover's spans. */
export const TRACE_ATTRIBUTES = {
  system: 'messaging.system',
  destination: 'messaging.destination.name',
  operationName: 'messaging.operation.name',
  operationType: 'messaging.operation.type',
  messageId: 'messaging.message.id',
  batchCount: 'messaging.batch.message_count',
  jobType: 'messaging.drover.job.type',
  attempt: 'messaging.drover.job.attempt',
  attemptId: 'messaging.drover.job.attempt_id',
} as const;

const A = TRACE_ATTRIBUTES;
const SYSTEM = 'drover';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Spans of one queue's puts and runs; a no-op until (and unless) the API can be loaded. */
export class JobTracing {
  /** The import under way, once asked. */
  private loading?: Promise<Api | null>;
  /** The API once imported; null when off or not installed (then nothing is ever done). */
  private api?: Api | null;

  constructor(readonly enabled: boolean) {}

  /** The API, imported once on first use; null when off or not installed. */
  private async load(): Promise<Api | null> {
    if (this.api !== undefined) return this.api;
    if (!this.enabled) return (this.api = null);
    this.loading ??= import('@opentelemetry/api').then(
      (api): Api => api,
      () => null,
    );
    return (this.api = await this.loading);
  }

  /**
   * Runs `write` (the put of `docs` into `queue`) in a `send` span, after storing the span's
   * context in every document.
   */
  async put<T>(queue: string, docs: JobDocument[], write: () => Promise<T>): Promise<T> {
    const api = this.api === undefined ? await this.load() : this.api;
    if (!api) return write();
    const attributes: Otel.Attributes = {
      [A.system]: SYSTEM,
      [A.destination]: queue,
      [A.operationName]: 'send',
      [A.operationType]: 'send',
    };
    if (docs.length === 1) {
      attributes[A.messageId] = docs[0]._id;
      attributes[A.jobType] = docs[0].type.name;
    } else {
      attributes[A.batchCount] = docs.length;
    }
    const span = api.trace
      .getTracer(TRACER_NAME)
      .startSpan(`send ${queue}`, { kind: api.SpanKind.PRODUCER, attributes });
    const stored = traceContextOf(api, span.spanContext());
    if (stored) for (const doc of docs) doc.traceContext = { ...stored };
    try {
      return await api.context.with(api.trace.setSpan(api.context.active(), span), write);
    } catch (err) {
      recordError(api, span, err);
      throw err;
    } finally {
      span.end();
    }
  }

  /**
   * Runs `run` (one run of `job`'s attempt in `queue`) as the current span of a `process` span
   * linked to the put's.
   */
  async attempt<T>(
    queue: string,
    job: BaseJob,
    signal: AbortSignal,
    run: () => Promise<T>,
  ): Promise<T> {
    const api = this.api === undefined ? await this.load() : this.api;
    if (!api) return run();
    const link = spanContextOf(api, job.traceContext);
    const span = api.trace.getTracer(TRACER_NAME).startSpan(
      `process ${queue}`,
      {
        kind: api.SpanKind.CONSUMER,
        attributes: {
          [A.system]: SYSTEM,
          [A.destination]: queue,
          [A.operationName]: 'process',
          [A.operationType]: 'process',
          [A.messageId]: job.baseJobId,
          [A.jobType]: job.type.name,
          [A.attempt]: job.retryInfo.currentAttempt,
          [A.attemptId]: job.id,
        },
        links: link ? [{ context: link }] : [],
      },
      // A new trace whatever is active where the pool was started.
      api.ROOT_CONTEXT,
    );
    const errorsBefore = job.status.errCount;
    try {
      const value = await api.context.with(api.trace.setSpan(api.ROOT_CONTEXT, span), run);
      if (job.status.errCount > errorsBefore) recordError(api, span, job.error());
      return value;
    } catch (err) {
      recordError(api, span, err);
      throw err;
    } finally {
      if (signal.aborted) {
        const reason: unknown = signal.reason;
        span.addEvent('drover.run.aborted', {
          reason: reason instanceof Error ? reason.message : String(reason),
        });
      }
      span.end();
    }
  }
}

/** Marks the span failed with `err`, whatever was thrown (a hostile value never escapes). */
function recordError(api: Api, span: Otel.Span, err: unknown): void {
  const message = messageOf(err);
  try {
    span.recordException(err instanceof Error ? err : new Error(message));
  } catch {
    // An error whose fields throw when read: its message (read safely) is what is recorded.
    span.recordException(new Error(message));
  }
  span.setStatus({ code: api.SpanStatusCode.ERROR, message });
}

/** A span context as stored with a job; undefined for an invalid (non-recording) one. */
function traceContextOf(api: Api, sc: Otel.SpanContext): TraceContext | undefined {
  if (!api.trace.isSpanContextValid(sc)) return undefined;
  const flags = (sc.traceFlags & 0xff).toString(16).padStart(2, '0');
  const stored: TraceContext = { traceparent: `00-${sc.traceId}-${sc.spanId}-${flags}` };
  const state = sc.traceState?.serialize();
  if (state) stored.tracestate = state;
  return stored;
}

/** The span context a stored trace context names; undefined when absent or malformed. */
function spanContextOf(api: Api, stored: TraceContext | undefined): Otel.SpanContext | undefined {
  const m = stored ? TRACEPARENT.exec(stored.traceparent) : null;
  if (!stored || !m) return undefined;
  const sc: Otel.SpanContext = {
    traceId: m[1],
    spanId: m[2],
    traceFlags: parseInt(m[3], 16),
    isRemote: true,
  };
  if (stored.tracestate) sc.traceState = api.createTraceState(stored.tracestate);
  return api.trace.isSpanContextValid(sc) ? sc : undefined;
}
