/**
 * A server that is down when a worker starts: `QueueGroup.connect` must fail within a bounded
 * time with a typed error (a DroverError with a code, not a driver error), and must be able to
 * wait for the server with retries and backoff instead of making the process crash and restart
 * in a loop.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ConnectError, QueueGroup } from '../../lib';
import { ChaosProxy, targetOf } from '../../chaos/proxy';
import { testLogger } from '../support/backends';
import { freshDb, testUri } from '../support/server';

/** A loopback port nobody listens on. */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('chaos: the server is down when a worker starts', function () {
  this.timeout(30_000);
  const db = freshDb('chaos_startup');

  it('fails within a bounded time with a typed error', async function () {
    const uri = `mongodb://127.0.0.1:${await deadPort()}`;
    const started = Date.now();
    const err = await QueueGroup.connect({
      uri,
      db,
      logger: testLogger,
      clientOptions: { serverSelectionTimeoutMS: 500 },
    }).then(
      async (group) => {
        await group.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    const took = Date.now() - started;
    assert.ok(err, 'connect must fail');
    assert.ok(took < 5_000, `failed after ${took} ms`);
    assert.ok(
      err instanceof ConnectError,
      `expected a ConnectError, got ${(err as Error).name}: ${(err as Error).message}`,
    );
    assert.equal(err.code, 'DROVER_CONNECT');
    assert.match(err.message, /127\.0\.0\.1/, 'the message says which server');
  });

  it('waits for the server with retries and capped backoff when asked to', async function () {
    const proxy = await ChaosProxy.start(targetOf(testUri()));
    proxy.sever(1_500);
    try {
      const retries: number[] = [];
      const group = await QueueGroup.connect({
        uri: proxy.uri(testUri()),
        db,
        logger: testLogger,
        clientOptions: { serverSelectionTimeoutMS: 300 },
        connectRetry: {
          attempts: 20,
          delayMs: 100,
          maxDelayMs: 400,
          onRetry: ({ delayMs }) => retries.push(delayMs),
        },
      });
      await group.close();
      assert.ok(proxy.refused > 0, 'the first attempts were refused');
      assert.ok(retries.length >= 1, 'it retried');
      assert.ok(
        retries.every((ms) => ms > 0 && ms <= 400),
        `capped backoff between attempts: ${retries.join(', ')}`,
      );
    } finally {
      await proxy.close();
    }
  });
});
