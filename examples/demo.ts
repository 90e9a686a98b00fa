/**
 * `npm run demo`: one command on a fresh machine. Runs the demo on MONGODB_URI when set; else
 * on a mongod started through mongodb-memory-server when one can be had (on PATH, cached, or
 * downloaded); else on drover's in-memory stores, which need nothing installed (one process,
 * nothing persisted). Each case says so on screen.
 */
import { redactUri } from '../lib/store/mongo/connect';
import { runDemo } from '../lib/ops/demo';
import { tryMemoryServer, type TestServer } from '../test/support/server';

async function main(): Promise<void> {
  const given = process.env.MONGODB_URI;
  let server: TestServer | undefined;
  if (given) {
    process.stdout.write(`server: MongoDB at ${redactUri(given)} (MONGODB_URI)\n`);
  } else {
    server = await tryMemoryServer(false);
    process.stdout.write(
      server
        ? `server: mongod through mongodb-memory-server at ${server.uri}\n`
        : 'server: none found (no MONGODB_URI, no mongod binary): running on the in-memory ' +
            'stores, one process, nothing persisted. Set MONGODB_URI to run on MongoDB.\n',
    );
  }
  try {
    await runDemo({ uri: given || server?.uri });
  } finally {
    await server?.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
