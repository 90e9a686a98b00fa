/**
 * The chaos proxy's URI keeps what the server needs from the original one: credentials (a
 * server with authentication, such as DocumentDB, refuses every command without them), the
 * database and the options, with only the host replaced and the connection made direct.
 */
import assert from 'node:assert/strict';
import { proxiedUri, targetOf } from '../../chaos/proxy';

describe('chaos proxy URI', () => {
  it('keeps credentials, path and options, replacing host and port', () => {
    const source = 'mongodb://drover:s%40cret@10.0.0.5:24957/admin?authSource=admin&w=majority';
    const target = targetOf(source);
    assert.deepEqual({ host: target.host, port: target.port }, { host: '10.0.0.5', port: 24957 });
    assert.equal(
      proxiedUri(target.source, 4000),
      'mongodb://drover:s%40cret@127.0.0.1:4000/admin?authSource=admin&w=majority&directConnection=true',
    );
  });

  it('forces a direct connection and drops a replica-set name', () => {
    assert.equal(
      proxiedUri('mongodb://h:1/?replicaSet=rs0&directConnection=false', 5),
      'mongodb://127.0.0.1:5/?directConnection=true',
    );
    assert.equal(proxiedUri('mongodb://h', 5), 'mongodb://127.0.0.1:5/?directConnection=true');
    assert.equal(proxiedUri(undefined, 5), 'mongodb://127.0.0.1:5/?directConnection=true');
  });
});
