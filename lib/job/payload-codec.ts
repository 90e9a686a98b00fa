/**
 * The payload codec: job fields to the stored payload and back, faithfully or not at all.
 *
 * A value is stored only if it comes back as what it was: strings, booleans, finite numbers,
 * null, valid Dates, dense arrays and plain objects of those (any keys but `$`-prefixed or NUL
 * ones: `constructor` and `__proto__` are plain data), and instances of classes that the field
 * declares with class-transformer's `@Type(() => Money)` (read back as `Money` instances, at any
 * depth). Everything else is refused with a PayloadValueError naming the field path: RegExp,
 * Error, URL, Map, Set, Buffer and other binary views (they would come back as `{}` or as a BSON
 * Binary), sparse arrays (compacted), `undefined` in arrays (null), functions, symbols, BigInt,
 * non-finite numbers, cycles, class instances without `@Type` (plain objects) and nesting deeper
 * than PAYLOAD_MAX_DEPTH. An `undefined` field of an object is left out (as JSON does).
 *
 * class-transformer's own walk is not used for the data: it skips `constructor` and `__proto__`
 * keys, throws on a `constructor` that is not a function, calls functions found in the object
 * and compacts sparse arrays. Its `@Type` metadata is what this codec honours.
 */
import { calculateObjectSize } from 'bson';
import { defaultMetadataStorage } from 'class-transformer/cjs/storage';
import {
  DroverError,
  MalformedJobError,
  PayloadValueError,
  UnstorableResultError,
} from '../errors';
import { messageOf } from './error-record';

/** Deepest nesting of objects and arrays in one payload field (MongoDB allows 100 in all). */
export const PAYLOAD_MAX_DEPTH = 64;
/** Largest result of `run()` stored with an attempt, in BSON bytes. */
export const RESULT_MAX_BYTES = 1024 * 1024;

/** Refuses a value: builds the error to throw for `path`. */
export type RefuseValue = (path: string, what: string) => Error;

type Ctor = abstract new (...args: never[]) => unknown;

/** Marks an `undefined` field, which objects leave out. */
const OMIT = Symbol('omit');

/** The class `@Type` declares for `key` of instances of `owner`, if any. */
function declaredType(owner: unknown, key: string): Ctor | undefined {
  if (typeof owner !== 'function') return undefined;
  const meta = defaultMetadataStorage.findTypeMetadata(owner, key);
  if (!meta) return undefined;
  const t: unknown = meta.typeFunction ? meta.typeFunction() : meta.reflectedType;
  return typeof t === 'function' && t !== Object && t !== Array ? (t as Ctor) : undefined;
}

/** Why a non-plain object cannot be stored, for the types people try most. */
function refusal(value: object): string | undefined {
  if (value instanceof RegExp) return 'a RegExp (it would come back as {}); store its source';
  if (value instanceof Error) return 'an Error (it would come back as {}); store its message';
  if (value instanceof URL) return 'a URL (it would come back as {}); store its href';
  if (value instanceof Map || value instanceof Set || value instanceof WeakMap)
    return `a ${value.constructor.name} (use arrays or plain objects)`;
  if (value instanceof Promise) return 'a Promise';
  if (typeof Buffer !== 'undefined' && Buffer.isBuffer(value))
    return 'a Buffer (it would come back as a BSON Binary); store a base64 string';
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer)
    return 'binary data (it would come back as a BSON Binary or {}); store a base64 string';
  if (value instanceof Number || value instanceof String || value instanceof Boolean)
    return 'a boxed primitive (new Number()...); store the primitive';
  return undefined;
}

function className(value: object): string {
  try {
    const name: unknown = (value.constructor as { name?: unknown } | undefined)?.name;
    return typeof name === 'string' && name ? name : 'an anonymous class';
  } catch {
    return 'an unknown class';
  }
}

function define(out: Record<string, unknown>, key: string, value: unknown): void {
  // defineProperty, not assignment: a `__proto__` key stays data instead of a prototype.
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Encodes values for storage, refusing what cannot come back as it was. */
class Encoder {
  private readonly seen = new Set<object>();

  /** `forResult`: a value `run()` returned, where no `@Type` can restore a class. */
  constructor(
    private readonly refuse: RefuseValue,
    private readonly forResult = false,
  ) {}

  value(v: unknown, path: string, depth: number, declared?: Ctor): unknown {
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return v;
      case 'number':
        if (!Number.isFinite(v)) throw this.refuse(path, 'a non-finite number');
        return v;
      case 'undefined':
        return OMIT;
      case 'bigint':
      case 'symbol':
      case 'function':
        throw this.refuse(path, `a ${typeof v}`);
    }
    if (v === null) return null;
    if (depth > PAYLOAD_MAX_DEPTH) {
      throw this.refuse(path, `nested deeper than ${PAYLOAD_MAX_DEPTH} levels`);
    }
    try {
      return this.objectValue(v as object, path, depth, declared);
    } catch (err) {
      // A Proxy whose traps throw, a throwing getter deep inside: refused, never a raw error.
      if (err instanceof DroverError) throw err;
      throw this.refuse(path, `a value that cannot be read (${messageOf(err)})`);
    }
  }

  /** `value` for objects: Dates, arrays, plain objects and declared class instances. */
  private objectValue(obj: object, path: string, depth: number, declared?: Ctor): unknown {
    if (obj instanceof Date) {
      if (Number.isNaN(obj.getTime())) throw this.refuse(path, 'an invalid Date');
      return new Date(obj.getTime());
    }
    if (this.seen.has(obj)) throw this.refuse(path, 'a circular reference');
    this.seen.add(obj);
    try {
      if (Array.isArray(obj)) return this.array(obj, path, depth, declared);
      const proto: unknown = Object.getPrototypeOf(obj);
      if (proto === Object.prototype || proto === null) return this.object(obj, path, depth);
      const why = refusal(obj);
      if (why) throw this.refuse(path, why);
      if (!declared) {
        const name = className(obj);
        const fix = this.forResult
          ? 'return plain data'
          : `declare the field with @Type(() => ${name})`;
        throw this.refuse(
          path,
          `an instance of ${name} (it would come back as a plain object): ${fix}`,
        );
      }
      if (proto !== declared.prototype) {
        throw this.refuse(
          path,
          `an instance of ${className(obj)}, but @Type declares ${declared.name}`,
        );
      }
      return this.object(obj, path, depth, declared);
    } finally {
      this.seen.delete(obj);
    }
  }

  private array(arr: unknown[], path: string, depth: number, declared?: Ctor): unknown[] {
    const keys = Object.keys(arr);
    if (keys.length !== arr.length) {
      const hole = Array.from({ length: arr.length }, (_, i) => i).find(
        (i) => !Object.hasOwn(arr, i),
      );
      throw this.refuse(
        path,
        hole === undefined
          ? 'an array with extra properties (they would be lost)'
          : `a sparse array (index ${hole} is a hole; it would be compacted)`,
      );
    }
    return arr.map((e, i) => {
      const out = this.value(e, `${path}[${i}]`, depth + 1, declared);
      if (out === OMIT)
        throw this.refuse(`${path}[${i}]`, 'undefined in an array (stored as null)');
      return out;
    });
  }

  /** A plain object, or an instance of `owner` (its `@Type` metadata applies to its fields). */
  private object(obj: object, path: string, depth: number, owner?: Ctor): Record<string, unknown> {
    if (Object.getOwnPropertySymbols(obj).length > 0) {
      throw this.refuse(path, 'an object with symbol keys (they would be lost)');
    }
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(obj)) {
      const at = `${path}.${key}`;
      if (key.startsWith('$') || key.includes('\u0000')) throw this.refuse(at, 'a reserved key');
      const encoded = this.value(this.read(obj, key, at), at, depth + 1, declaredType(owner, key));
      if (encoded !== OMIT) define(out, key, encoded);
    }
    return out;
  }

  private read(obj: object, key: string, path: string): unknown {
    try {
      return (obj as Record<string, unknown>)[key];
    } catch {
      throw this.refuse(path, 'a getter that throws');
    }
  }

  /** The fields of `source` (an instance of its class), but `skip`, as a stored payload. */
  fields(source: object, skip: readonly string[]): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(source)) {
      if (skip.includes(key)) continue;
      const encoded = this.value(
        this.read(source, key, key),
        key,
        1,
        declaredType(source.constructor, key),
      );
      if (encoded !== OMIT) define(out, key, encoded);
    }
    return out;
  }
}

/** The payload of a job: its own fields but `skip`. Throws PayloadValueError (see module). */
export function encodePayload(
  job: object,
  skip: readonly string[],
  jobId: string,
): Record<string, unknown> {
  return new Encoder((path, what) => new PayloadValueError(jobId, path, what)).fields(job, skip);
}

/**
 * What `run()` returned, as stored with the attempt; undefined for undefined. Throws
 * UnstorableResultError for a value that cannot be stored (see the module comment; class
 * instances too) or one over `maxBytes`.
 */
export function encodeResult(jobId: string, value: unknown, maxBytes = RESULT_MAX_BYTES): unknown {
  const refuse: RefuseValue = (path, reason) => new UnstorableResultError(jobId, { path, reason });
  const out = new Encoder(refuse, true).value(value, 'returnValue', 1);
  if (out === OMIT) return undefined;
  const bytes = calculateObjectSize({ v: out });
  if (bytes > maxBytes) throw new UnstorableResultError(jobId, { bytes, limit: maxBytes });
  return out;
}

/** Rebuilds stored values, restoring the classes `@Type` declares. Never recurses unbounded. */
function decode(v: unknown, depth: number, declared?: Ctor): unknown {
  if (declared === (Date as unknown) && (typeof v === 'string' || typeof v === 'number')) {
    return new Date(v);
  }
  if (typeof v !== 'object' || v === null) return v;
  if (v instanceof Date) return new Date(v.getTime());
  // Deeper than anything the codec stores: a hand-made document; left as it is.
  if (depth > PAYLOAD_MAX_DEPTH * 2) return v;
  if (Array.isArray(v)) return v.map((e) => decode(e, depth + 1, declared));
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return v;
  if (declared && declared !== (Date as unknown)) {
    const target = new (declared as unknown as new () => object)();
    assignFields(target, v, depth, declared);
    return target;
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v)) {
    define(out, key, decode((v as Record<string, unknown>)[key], depth + 1));
  }
  return out;
}

/** Sets the stored fields of `source` on `target`, an instance of `owner`. */
function assignFields(
  target: object,
  source: object,
  depth: number,
  owner: Ctor,
  skip: readonly string[] = [],
): void {
  for (const key of Object.keys(source)) {
    if (skip.includes(key)) continue;
    // A stored key must not shadow a method of the class (a hand-edited document).
    if (
      !Object.hasOwn(target, key) &&
      typeof (target as Record<string, unknown>)[key] === 'function'
    ) {
      continue;
    }
    const value = decode(
      (source as Record<string, unknown>)[key],
      depth + 1,
      declaredType(owner, key),
    );
    define(target as Record<string, unknown>, key, value);
  }
}

/**
 * A new instance of `cls` with the stored `payload` (`skip` left out), nested `@Type` classes
 * restored. A class whose constructor throws gives a MalformedJobError.
 */
export function decodePayload<T extends object>(
  cls: new () => T,
  payload: Record<string, unknown>,
  skip: readonly string[],
  jobId?: string,
): T {
  try {
    const job = new cls();
    assignFields(job, payload, 0, cls, skip);
    return job;
  } catch (err) {
    throw new MalformedJobError(
      `job ${jobId ?? '?'}: payload cannot be loaded: ${messageOf(err)}`,
      jobId,
    );
  }
}
