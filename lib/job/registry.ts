/**
 * The registry maps job type names to classes and converts between job instances and stored
 * documents with class-transformer. Loading a document that cannot become a job (unknown type,
 * version with no upgrade path, malformed fields) throws a typed error; the queue quarantines it.
 */
// Decorators (`@Type`) read design-time types through reflect-metadata: load it before any.
import 'reflect-metadata';
import { calculateObjectSize } from 'bson';
import { BaseJob, BASE_FIELDS, rehydrating, type JobClass } from './base-job';
import {
  InvalidArgumentError,
  JobVersionError,
  MalformedJobError,
  PayloadTooLargeError,
  UnknownJobTypeError,
} from '../errors';
import {
  resolveSandboxOptions,
  type ResolvedSandboxOptions,
  type SandboxOptions,
} from '../sandbox/sandbox-options';
import { JOB_STATES, type JobDocument, type JobTypeInfo } from '../types';
import { withJobDefaults } from '../job-document';
import { checkConcurrency, checkTypeName, describe as describeValue } from '../validate';
import { toBackoffPolicy, type BackoffOption, type BackoffPolicy } from '../timers/backoff';
import { decodePayload, encodePayload } from './payload-codec';

/** Turns a payload stored at `version` into the payload of `version + 1`. */
export type UpgradeFn = (payload: Record<string, unknown>) => Record<string, unknown>;

/** Options of `@JobType`. */
export interface JobTypeOptions {
  /** Current version of the payload schema. Default 1. */
  version?: number;
  /** `upgrades[n]` turns a version-n payload into version n+1. */
  upgrades?: Record<number, UpgradeFn>;
  /** Registry to add the class to; the default registry when omitted. */
  registry?: Registry;
  /** Run the type's jobs in a worker thread or a child process (see lib/sandbox/). */
  sandbox?: SandboxOptions;
  /**
   * Delay between the attempts of jobs of this type (a policy, milliseconds or a spec), over
   * their queue's and group's; a job's own `backoff` option wins over it.
   */
  backoff?: BackoffOption;
}

interface Registration {
  cls: JobClass;
  info: JobTypeInfo;
  upgrades: Record<number, UpgradeFn>;
  sandbox: ResolvedSandboxOptions | null;
  backoff?: BackoffPolicy;
}

/** MongoDB's document limit is 16 MiB; leave room for the envelope and updates. */
export const DEFAULT_MAX_DOCUMENT_BYTES = 15 * 1024 * 1024;

/** Maps type names to job classes; converts jobs to and from documents. */
export class Registry {
  private readonly byName = new Map<string, Registration>();
  private readonly byClass = new Map<JobClass, Registration>();
  /**
   * The stored payload each job rehydrated here was loaded from, to tell at its outcome whether
   * `run()` changed it (see `changedPayload`); all the work is done then, none at the load.
   */
  private readonly loaded = new WeakMap<BaseJob, Record<string, unknown>>();

  constructor(readonly maxDocumentBytes = DEFAULT_MAX_DOCUMENT_BYTES) {}

  /** Adds a class under a type name. Re-registering the same class is allowed; another class is not. */
  register(cls: JobClass, name: string, options: JobTypeOptions = {}): void {
    checkTypeName(name);
    const version = options.version ?? 1;
    if (!Number.isInteger(version) || version < 1) {
      throw new InvalidArgumentError(`job type "${name}": version must be a positive integer`);
    }
    const existing = this.byName.get(name);
    if (existing && existing.cls !== cls) {
      throw new InvalidArgumentError(`job type "${name}" is already registered to another class`);
    }
    const reg: Registration = {
      cls,
      info: { name, version },
      upgrades: options.upgrades ?? {},
      sandbox: options.sandbox === undefined ? null : resolveSandboxOptions(name, options.sandbox),
    };
    if (options.backoff !== undefined) reg.backoff = toBackoffPolicy(options.backoff);
    this.byName.set(name, reg);
    this.byClass.set(cls, reg);
  }

  /** Registered type names. */
  names(): string[] {
    return [...this.byName.keys()];
  }

  /** The backoff of a job type (its `@JobType` option), if it set one. */
  backoffOf(name: string): BackoffPolicy | undefined {
    return this.byName.get(name)?.backoff;
  }

  /** The class registered under a name. */
  classOf(name: string): JobClass | undefined {
    return this.byName.get(name)?.cls;
  }

  /** The sandbox the type's jobs run in, or null when they run in the worker itself. */
  sandboxOf(name: string): ResolvedSandboxOptions | null {
    return this.byName.get(name)?.sandbox ?? null;
  }

  /** Name and version of a job's class; throws for an unregistered class. */
  typeOf(job: BaseJob): JobTypeInfo {
    const reg = this.byClass.get(job.constructor as JobClass);
    if (!reg) {
      throw new UnknownJobTypeError(job.constructor.name, job.id);
    }
    return { ...reg.info };
  }

  /** Serializes a job into the document of its attempt in `queue`. Validates; writes nothing. */
  toDocument(job: BaseJob, queue: string, now: Date): JobDocument {
    const type = this.typeOf(job);
    const plain = encodePayload(job, BASE_FIELDS, job.id);
    const waitUntil = job.timeInfo.waitUntil;
    const doc: JobDocument = {
      _id: job.id,
      queue,
      type,
      state: 'pending',
      priority: job.priority,
      dueAt: waitUntil && waitUntil > now ? waitUntil : now,
      payload: plain,
      status: { ...job.status, errors: [...job.status.errors], modTime: now },
      timeInfo: { ...job.timeInfo },
      retryInfo: { ...job.retryInfo, baseJobId: job.retryInfo.baseJobId || job.id },
      scopes: [...job.scopes],
      enqueueScopes: [...job.enqueueScopes],
      dependency: { ...job.dependency, edges: [...job.dependency.edges] },
    };
    // Absent rather than undefined: the driver would store undefined as null.
    if (job.concurrencyKey !== undefined) doc.concurrencyKey = checkConcurrency(job.concurrencyKey);
    if (job.traceContext !== undefined) doc.traceContext = { ...job.traceContext };
    const bytes = calculateObjectSize(doc);
    if (bytes > this.maxDocumentBytes)
      throw new PayloadTooLargeError(job.id, bytes, this.maxDocumentBytes);
    return doc;
  }

  /**
   * The payload to write with a job's outcome: undefined when it is what the job was loaded with
   * (nothing to write), else the job's payload encoded (throws as `toDocument` does for an
   * unstorable or too large one). A job not loaded here counts as changed.
   */
  changedPayload(job: BaseJob): Record<string, unknown> | undefined {
    const loaded = this.loaded.get(job);
    // Primitive fields (the common case) compare by `===`; a field holding an object or an
    // array, which run() may change in place, needs the payload re-encoded and compared.
    const primitives = loaded !== undefined && onlyPrimitives(loaded);
    if (primitives && samePrimitives(job, loaded)) return undefined;
    const payload = encodePayload(job, BASE_FIELDS, job.id);
    if (loaded && !primitives && samePlain(payload, loaded, 0)) return undefined;
    const bytes = calculateObjectSize(payload);
    if (bytes > this.maxDocumentBytes)
      throw new PayloadTooLargeError(job.id, bytes, this.maxDocumentBytes);
    return payload;
  }

  /** Rehydrates a job from its document, upgrading old payload versions. */
  fromDocument<T extends BaseJob = BaseJob>(doc: JobDocument): T {
    // A slim document (lib/job-document.ts) reads as its full form; the store fills the ones it
    // returns, documents from elsewhere (templates) are filled here.
    withJobDefaults(doc);
    checkShape(doc);
    const reg = this.byName.get(doc.type.name);
    if (!reg) throw new UnknownJobTypeError(doc.type.name, doc._id);
    let payload = doc.payload;
    for (let v = doc.type.version; v < reg.info.version; v++) {
      const upgrade = reg.upgrades[v];
      if (!upgrade)
        throw new JobVersionError(doc.type.name, doc.type.version, reg.info.version, doc._id);
      payload = upgrade(payload);
    }
    if (doc.type.version > reg.info.version) {
      throw new JobVersionError(doc.type.name, doc.type.version, reg.info.version, doc._id);
    }
    const job = rehydrating(() => decodePayload(reg.cls, payload, BASE_FIELDS, doc._id) as T);
    // An upgraded payload differs from the stored one: it is written back as any change is.
    if (payload === doc.payload) this.loaded.set(job, payload);
    job.id = doc._id;
    job.state = doc.state;
    if (doc.returnValue !== undefined) job.returnValue = doc.returnValue;
    job.type = { ...reg.info };
    job.queue = doc.queue;
    job.status = { ...doc.status, errors: [...doc.status.errors] };
    job.timeInfo = { ...doc.timeInfo };
    job.retryInfo = { ...doc.retryInfo };
    job.scopes = [...doc.scopes];
    job.enqueueScopes = [...doc.enqueueScopes];
    if (doc.concurrencyKey)
      job.concurrencyKey = { key: doc.concurrencyKey.key, limit: doc.concurrencyKey.limit };
    job.priority = doc.priority;
    job.dependency = { ...doc.dependency, edges: [...doc.dependency.edges] };
    // Only ever informative: a malformed one is ignored, never a reason to quarantine.
    const trace = doc.traceContext as unknown;
    if (isObject(trace) && typeof trace.traceparent === 'string') {
      job.traceContext = { traceparent: trace.traceparent };
      if (typeof trace.tracestate === 'string') job.traceContext.tracestate = trace.tracestate;
    }
    return job;
  }
}

/** True when every field of a stored payload is a primitive (no object, array or Date). */
function onlyPrimitives(payload: Record<string, unknown>): boolean {
  for (const key in payload) {
    const v = payload[key];
    if (typeof v === 'object' && v !== null) return false;
  }
  return true;
}

/** True when the job's payload fields are exactly the stored primitives of `loaded`. */
function samePrimitives(job: BaseJob, loaded: Record<string, unknown>): boolean {
  const fields = job as unknown as Record<string, unknown>;
  let count = 0;
  for (const key of Object.keys(fields)) {
    if (BASE_FIELDS.includes(key as never)) continue;
    const v = fields[key];
    if (v === undefined) continue;
    if (!Object.hasOwn(loaded, key) || loaded[key] !== v) return false;
    count++;
  }
  let stored = 0;
  for (const key of Object.keys(loaded)) if (!BASE_FIELDS.includes(key as never)) stored++;
  return count === stored;
}

/** Deep equality of two stored (plain) values: objects, arrays, Dates and primitives. */
function samePlain(a: unknown, b: unknown, depth: number): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  // Deeper than the codec stores: not worth proving equal; written back.
  if (depth > 200) return false;
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] !== kb[i] || !samePlain(ra[ka[i]], rb[ka[i]], depth + 1)) return false;
  }
  return true;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Rejects documents whose envelope is not what we wrote (hand edits, other tools, corruption). */
function checkShape(doc: JobDocument): void {
  const raw = doc as unknown as Record<string, unknown>;
  const id = typeof raw._id === 'string' ? raw._id : undefined;
  const fail = (what: string): never => {
    throw new MalformedJobError(`job ${describeValue(raw._id)}: ${what}`, id);
  };
  if (id === undefined) fail('_id is not a string');
  if (!isObject(raw.type) || typeof raw.type.name !== 'string') fail('type.name missing');
  const type = raw.type as Record<string, unknown>;
  if (!Number.isInteger(type.version)) fail('type.version is not an integer');
  if (!isObject(raw.payload)) fail('payload is not an object');
  if (typeof raw.priority !== 'number' || !Number.isFinite(raw.priority))
    fail('priority is not a number');
  if (!(raw.dueAt instanceof Date)) fail('dueAt is not a date');
  if (!JOB_STATES.includes(raw.state as never)) fail(`unknown state ${String(raw.state)}`);
  if (!isObject(raw.status) || typeof raw.status.modCount !== 'number') fail('status missing');
  if (!Array.isArray((raw.status as Record<string, unknown>).errors)) fail('status.errors missing');
  if (!isObject(raw.timeInfo) || !(raw.timeInfo.created instanceof Date)) fail('timeInfo missing');
  if (!isObject(raw.retryInfo) || typeof raw.retryInfo.currentAttempt !== 'number') {
    fail('retryInfo missing');
  }
  if (!Array.isArray(raw.scopes) || !Array.isArray(raw.enqueueScopes)) fail('scopes missing');
  if (!isObject(raw.dependency) || !Array.isArray(raw.dependency.edges)) fail('dependency missing');
  // Optional: documents written before concurrency keys have none (null counts as none).
  if (raw.concurrencyKey !== undefined && raw.concurrencyKey !== null) {
    try {
      checkConcurrency(raw.concurrencyKey);
    } catch (err) {
      fail(err instanceof Error ? err.message : 'concurrency malformed');
    }
  }
}

/** The registry `@JobType` uses when given none. */
export const defaultRegistry = new Registry();

/**
 * Registers a job class under a type name and version.
 * @example
 * ```ts
 * @JobType('resize-image', { version: 1 })
 * class ResizeImage extends BaseJob { url = ''; async run() {} }
 * ```
 */
export function JobType(name: string, options: JobTypeOptions = {}) {
  return <C extends JobClass>(cls: C): C => {
    (options.registry ?? defaultRegistry).register(cls, name, options);
    return cls;
  };
}
