/**
 * Faithful payloads, against both backends: what is stored comes back as it was (nested classes
 * declared with `@Type`, Dates at any depth, `constructor` and `__proto__` keys as plain data),
 * and what could not come back as it was is refused at put with a PayloadValueError naming the
 * field path, storing nothing.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { InvalidArgumentError, PayloadValueError, type Queue } from '../../lib';
import { memoryBackend, mongoBackend, type Backend } from '../support/backends';
import { AnyPayloadJob, Line, Money, OrderJob } from '../support/semantics-jobs';

function money(amount: number, currency = 'EUR'): Money {
  return Object.assign(new Money(), { amount, currency });
}

/** A value nested `depth` levels deep: `{ a: { a: ... } }`. */
function nested(depth: number): unknown {
  let v: unknown = 'bottom';
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

/** Values that cannot come back as they were, each with the path and reason of the refusal. */
const UNSTORABLE: [string, () => unknown, string, RegExp][] = [
  ['RegExp', () => ({ when: /x+/ }), 'data.when', /a RegExp/],
  ['Error', () => [new Error('x')], 'data[0]', /an Error/],
  ['URL', () => ({ link: new URL('https://example.com/') }), 'data.link', /a URL/],
  ['ArrayBuffer', () => ({ raw: new ArrayBuffer(4) }), 'data.raw', /binary data/],
  ['Buffer', () => ({ deep: { b: Buffer.from('hi') } }), 'data.deep.b', /a Buffer/],
  ['Uint8Array', () => ({ bytes: new Uint8Array(2) }), 'data.bytes', /binary data/],
  // eslint-disable-next-line no-sparse-arrays -- a hole on purpose
  ['sparse array', () => ({ list: [1, , 3] }), 'data.list', /sparse array \(index 1/],
  ['undefined in an array', () => [1, undefined], 'data[1]', /undefined in an array/],
  ['function', () => ({ f: () => 1 }), 'data.f', /a function/],
  ['symbol', () => ({ s: Symbol('s') }), 'data.s', /a symbol/],
  ['BigInt', () => ({ n: 10n }), 'data.n', /a bigint/],
  ['Map', () => ({ m: new Map() }), 'data.m', /a Map/],
  [
    'class instance without @Type',
    () => ({ price: money(3) }),
    'data.price',
    /@Type\(\(\) => Money\)/,
  ],
  ['boxed primitive', () => ({ n: new Number(1) }), 'data.n', /boxed primitive/],
  [
    'Proxy whose traps throw',
    () => ({
      p: new Proxy(
        {},
        {
          ownKeys: () => {
            throw new Error('trap');
          },
        },
      ),
    }),
    'data.p',
    /a value that cannot be read \(trap\)/,
  ],
  [
    'getter that throws',
    () => ({
      g: Object.defineProperty({}, 'x', {
        enumerable: true,
        get: () => {
          throw new Error('no');
        },
      }),
    }),
    'data.g.x',
    /a getter that throws/,
  ],
  // Named where it crosses the limit; 20,000 levels would overflow the stack of a naive walk.
  ['deep nesting', () => nested(20_000), `data${'.a'.repeat(64)}`, /nested deeper than 64 levels/],
];

function payloads(makeBackend: () => Backend): void {
  let backend: Backend;
  let q: Queue;

  before(() => {
    backend = makeBackend();
  });
  beforeEach(async () => {
    await backend.reset();
    q = await backend.group().get('payloads');
  });
  after(async () => backend.close());

  it('brings back nested classes declared with @Type, and Dates, as what they were', async () => {
    const placedAt = new Date('2026-03-04T05:06:07.089Z');
    const line = Object.assign(new Line(), {
      sku: 'A-1',
      price: money(2.5),
      shipBy: new Date('2026-03-05T00:00:00Z'),
    });
    const job = OrderJob.create(
      { total: money(7.5, 'USD'), lines: [line], placedAt, meta: { when: { at: placedAt } } },
      { id: 'o1' },
    );
    await q.put(job);
    const back = await q.get<OrderJob>('o1');
    assert.ok(back instanceof OrderJob);
    assert.ok(back.total instanceof Money, 'a nested class comes back as its class');
    assert.equal(back.total.format(), '7.50 USD');
    assert.ok(back.lines[0] instanceof Line);
    assert.ok(back.lines[0].price instanceof Money, 'at any depth');
    assert.equal(back.lines[0].price.format(), '2.50 EUR');
    assert.ok(back.lines[0].shipBy instanceof Date);
    assert.deepEqual(back.lines[0].shipBy, line.shipBy);
    assert.ok(back.placedAt instanceof Date);
    assert.deepEqual(back.placedAt, placedAt);
    const when = (back.meta.when as { at: unknown }).at;
    assert.ok(when instanceof Date, 'a Date in free-form data stays a Date');
    assert.deepEqual(when, placedAt);
    await q.start();
    assert.equal((await q.waitFor('o1')).returnValue, '7.50 USD', 'methods work in run()');
  });

  it('keeps keys like constructor and __proto__ as plain data', async () => {
    const meta: Record<string, unknown> = {
      constructor: 'ACME',
      nested: { constructor: { x: 1 } },
    };
    Object.defineProperty(meta, '__proto__', {
      value: { polluted: true },
      enumerable: true,
      writable: true,
      configurable: true,
    });
    const parsed = JSON.parse('{"__proto__": {"admin": true}, "toString": "text"}') as unknown;
    await q.put(OrderJob.create({ meta: { ...meta, parsed } }, { id: 'keys' }));
    const back = await q.get<OrderJob>('keys');
    assert.ok(back);
    const m = back.meta;
    assert.equal(m.constructor, 'ACME');
    assert.deepEqual(m.nested, { constructor: { x: 1 } });
    assert.deepEqual(Object.getOwnPropertyDescriptor(m, '__proto__')?.value, { polluted: true });
    assert.equal(Object.getPrototypeOf(m), Object.prototype, 'no prototype was set');
    const p = m.parsed as Record<string, unknown>;
    assert.deepEqual(Object.keys(p), ['__proto__', 'toString']);
    assert.equal(p.toString, 'text');
    assert.equal(({} as Record<string, unknown>).admin, undefined, 'nothing polluted');
  });

  it('leaves out undefined fields of objects, as JSON does', async () => {
    await q.put(AnyPayloadJob.create({ data: { a: 1, b: undefined } }, { id: 'u' }));
    const back = await q.get<AnyPayloadJob>('u');
    assert.deepEqual(back?.data, { a: 1 });
  });

  for (const [what, make, path, reason] of UNSTORABLE) {
    it(`refuses ${what} at put, naming ${path.slice(0, 20)}, storing nothing`, async () => {
      const job = AnyPayloadJob.create({ data: make() }, { id: 'bad' });
      const err = await q.put(job).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof PayloadValueError, `${what}: ${String(err)}`);
      assert.ok(err instanceof InvalidArgumentError, 'a kind of InvalidArgumentError');
      assert.equal(err.path, path);
      assert.match(err.message, reason);
      assert.equal(await q.getDocument('bad'), undefined);
    });
  }

  it('refuses a class instance that is not the class @Type declares', async () => {
    const job = OrderJob.create({ total: new Line() as unknown as Money }, { id: 'wrong' });
    await assert.rejects(q.put(job), (e: unknown) => {
      return (
        e instanceof PayloadValueError &&
        e.path === 'total' &&
        /@Type declares Money/.test(e.message)
      );
    });
  });
}

describe('payloads: in-memory', () => payloads(memoryBackend));
describe('payloads: MongoDB', () => payloads(mongoBackend));
