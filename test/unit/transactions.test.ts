/**
 * The rules of lib/store/mongo/transactions.ts that do not need a server: which errors are
 * transient (DocumentDB's write conflict has no label), how errors inside a caller's session are
 * translated, which `hello` answers mean transactions, and how a statement refused by a write
 * conflict outside a transaction is run again.
 */
import assert from 'node:assert/strict';
import { MongoCompatibilityError, MongoServerError } from 'mongodb';
import { StoreError, TransactionsUnsupportedError } from '../../lib';
import { retryWriteConflicts } from '../../lib/store/mongo/errors';
import {
  helloAllowsTransactions,
  isTransientTransactionError,
  sessionError,
} from '../../lib/store/mongo/transactions';

function serverError(code: number, labels: string[] = []): MongoServerError {
  return new MongoServerError({ ok: 0, code, errmsg: `error ${code}`, errorLabels: labels });
}

describe('transactions: error rules', () => {
  it('counts labelled errors and unlabelled write conflicts (112) as transient', () => {
    assert.equal(
      isTransientTransactionError(serverError(251, ['TransientTransactionError'])),
      true,
    );
    assert.equal(isTransientTransactionError(serverError(112)), true);
    assert.equal(isTransientTransactionError(new StoreError('wrapped', serverError(112))), true);
    assert.equal(isTransientTransactionError(serverError(11000)), false);
    assert.equal(isTransientTransactionError(new Error('plain')), false);
    assert.equal(isTransientTransactionError('not an error'), false);
  });

  it('passes session errors through unwrapped, labelling a write conflict transient', () => {
    const conflict = serverError(112);
    const out = sessionError('writing', conflict);
    assert.equal(out, conflict);
    assert.equal(conflict.hasErrorLabel('TransientTransactionError'), true);
    const other = serverError(2);
    assert.equal(sessionError('writing', other), other);
    assert.ok(sessionError('writing', new Error('plain')) instanceof StoreError);
  });

  it('turns a refused session or transaction into TransactionsUnsupportedError', () => {
    const noSessions = new MongoCompatibilityError('Current topology does not support sessions');
    assert.ok(sessionError('inserting', noSessions) instanceof TransactionsUnsupportedError);
    // A standalone mongod: "Transaction numbers are only allowed on a replica set member or mongos".
    assert.ok(sessionError('inserting', serverError(20)) instanceof TransactionsUnsupportedError);
  });

  it('reads transaction support from hello: sessions and a replica set, router or balancer', () => {
    const replicaSet = { setName: 'rs0', logicalSessionTimeoutMinutes: 30, maxWireVersion: 21 };
    const documentDb = { msg: 'isdbgrid', logicalSessionTimeoutMinutes: 30, maxWireVersion: 21 };
    const balanced = { serviceId: 'x', logicalSessionTimeoutMinutes: 30 };
    const standalone = { isWritablePrimary: true, logicalSessionTimeoutMinutes: 30 };
    const javaServer = { ismaster: true, maxWireVersion: 13 };
    for (const hello of [replicaSet, documentDb, balanced]) {
      assert.equal(helloAllowsTransactions(hello).ok, true, JSON.stringify(hello));
    }
    assert.deepEqual(helloAllowsTransactions(standalone), {
      ok: false,
      why: 'the server is a standalone (transactions need a replica set)',
    });
    assert.deepEqual(helloAllowsTransactions(javaServer), {
      ok: false,
      why: 'the server has no sessions',
    });
  });

  it('runs a statement again after write conflicts (a DocumentDB deadlock), five tries at most', async () => {
    let calls = 0;
    const once = await retryWriteConflicts(async () => {
      if (++calls === 1) throw serverError(112);
      return 'done';
    });
    assert.deepEqual([once, calls], ['done', 2]);
    calls = 0;
    await assert.rejects(
      retryWriteConflicts(async () => {
        calls++;
        throw serverError(112);
      }),
      (err: unknown) => err instanceof MongoServerError && err.code === 112,
    );
    assert.equal(calls, 5);
    calls = 0;
    await assert.rejects(
      retryWriteConflicts(async () => {
        calls++;
        throw serverError(11000);
      }),
    );
    assert.equal(calls, 1, 'other errors are not run again');
  });
});
