/**
 * `npm run demo` needs nothing installed: without a MongoDB URI the demo runs on the in-memory
 * stores and says so. (With a URI it runs as before; the CLI's `drover demo` still asks for one.)
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { runDemo } from '../../lib/ops/demo';

describe('demo without a server', function () {
  this.timeout(60_000);

  it('runs every queue on the in-memory stores and says so', async () => {
    let text = '';
    const out = new Writable({
      write(chunk: Buffer, _encoding, done) {
        text += chunk.toString();
        done();
      },
    });
    const rows = await runDemo({ out, jobsPerQueue: 5 });
    assert.match(text, /in-memory stores: nothing is persisted/);
    assert.deepEqual(
      rows.map((r) => [r.queue, r.completed + r.failed]),
      [
        ['images', 5],
        ['emails', 5],
        ['reports', 6],
      ],
    );
    assert.equal(
      rows.find((r) => r.queue === 'reports')?.aborted,
      1,
      'the long job is aborted by ID',
    );
    assert.match(text, /job reindex-orders: aborted/);
  });
});
