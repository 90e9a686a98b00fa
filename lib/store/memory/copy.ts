/**
 * The in-memory stores' copies in and out (callers never share an object with a store). Plain
 * objects, arrays and dates, what job documents are made of, are copied here (a JS copy of a
 * small document is several times cheaper than `structuredClone`, which the claim paid per job);
 * anything else (a Buffer, a Map, a BSON value in a payload) goes through `structuredClone`, so
 * the result is what `structuredClone` gives for every value.
 */
export function copyOf<T>(value: T): T {
  return copy(value) as T;
}

function copy(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof Date) return new Date(v.getTime());
  if (Array.isArray(v)) {
    const out: unknown[] = new Array<unknown>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = copy(v[i]);
    return out;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype) return structuredClone(v);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v)) {
    const value = copy((v as Record<string, unknown>)[key]);
    // An own `__proto__` key is data: assigning it would set the copy's prototype instead.
    if (key === '__proto__') {
      Object.defineProperty(out, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else out[key] = value;
  }
  return out;
}
