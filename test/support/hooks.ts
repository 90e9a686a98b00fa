/**
 * Mocha root-hook plugin (loaded through .mocharc.json `require`): starts one MongoDB server for
 * the whole run and publishes its URI in DROVER_TEST_URI, which child processes inherit.
 */
import { startServer, TEST_URI_ENV, type TestServer } from './server';

let server: TestServer | undefined;
let previousUri: string | undefined;

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    // Generous: the first run may fetch jars from Maven or probe for a mongod download.
    this.timeout(300_000);
    previousUri = process.env[TEST_URI_ENV];
    server = await startServer();
    process.env[TEST_URI_ENV] = server.uri;
  },

  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(30_000);
    await server?.stop();
    server = undefined;
    if (previousUri === undefined) delete process.env[TEST_URI_ENV];
    else process.env[TEST_URI_ENV] = previousUri;
  },
};
