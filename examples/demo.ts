/**
 * `npm run demo`: runs the demo on MONGODB_URI, or on an embedded server (mongodb-memory-server
 * when a mongod binary is available, else the in-memory mongo-java-server stand-in).
 */
import { runDemo } from '../lib/ops/demo';
import { startServer } from '../test/support/server';

async function main(): Promise<void> {
  const server = await startServer();
  process.stdout.write(`server: ${server.kind} at ${server.uri}\n`);
  try {
    await runDemo({ uri: server.uri });
  } finally {
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
