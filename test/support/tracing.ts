/**
 * Support of the tracing tests: an OpenTelemetry SDK with the in-memory exporter (registered as
 * the global tracer provider, with the AsyncLocalStorage context manager), the finished spans as
 * plain records (to compare, or to send between processes), and a job class that makes a span of
 * its own inside `run()`.
 */
import 'reflect-metadata';
import { context, trace, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { BaseJob, JobType, RetryableError } from '../../lib';

/** A finished span as plain JSON. */
export interface SpanRecord {
  name: string;
  /** SpanKind: 0 internal, 3 producer, 4 consumer. */
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  links: { traceId: string; spanId: string }[];
  attributes: Record<string, unknown>;
  /** SpanStatusCode: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
  events: string[];
  scope: string;
}

function record(span: ReadableSpan): SpanRecord {
  const sc = span.spanContext();
  return {
    name: span.name,
    kind: span.kind,
    traceId: sc.traceId,
    spanId: sc.spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    links: span.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId })),
    attributes: { ...span.attributes },
    status: { code: span.status.code, message: span.status.message },
    events: span.events.map((e) => e.name),
    scope: span.instrumentationScope.name,
  };
}

/** The SDK of one process, registered globally until `shutdown()`. */
export class TestTracing {
  private readonly exporter = new InMemorySpanExporter();
  private readonly provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(this.exporter)],
  });
  private readonly contextManager = new AsyncLocalStorageContextManager();

  constructor() {
    this.contextManager.enable();
    context.setGlobalContextManager(this.contextManager);
    trace.setGlobalTracerProvider(this.provider);
  }

  /** Every span finished so far. */
  spans(): SpanRecord[] {
    return this.exporter.getFinishedSpans().map(record);
  }

  reset(): void {
    this.exporter.reset();
  }

  /** Unregisters the SDK, so no later test in this process records spans. */
  async shutdown(): Promise<void> {
    trace.disable();
    context.disable();
    await this.provider.shutdown();
  }
}

/** The W3C traceparent of a span record (flags of a sampled span). */
export function traceparentOf(span: SpanRecord): string {
  return `00-${span.traceId}-${span.spanId}-01`;
}

/** Makes a span of its own inside `run()`; fails or asks for a retry when told to. */
@JobType('test-traced')
export class TracedJob extends BaseJob {
  fail = '';
  /** Ask for one retry on the first attempt. */
  retryOnce = false;

  async run(): Promise<void> {
    const span: Span = trace.getTracer('test-user').startSpan('user-work');
    span.end();
    if (this.retryOnce && this.retryInfo.currentAttempt === 0) throw new RetryableError('again');
    if (this.fail) throw new Error(this.fail);
  }
}
