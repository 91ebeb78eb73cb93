import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EpochStore } from './epoch-store.ts';

const voters = ['peerA', 'peerB', 'peerC'];

function store(): { dir: string; s: EpochStore; done: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'covey-epochs-'));
  const dir = join(root, 'epochs');
  return { dir, s: new EpochStore(dir, join(root, 'consensus')), done: () => rmSync(root, { recursive: true, force: true }) };
}

test('epochs made whole are listed oldest first, with the storage their group started from', async () => {
  const { dir, s, done } = store();
  try {
    assert.deepEqual(s.list(), [], 'no directory yet: no epochs beyond 0');
    await s.create({ epoch: 2, voters: ['peerA', 'peerB', 'peerD'], change: '1.0' }, null);
    await s.create({ epoch: 1, voters, change: '7.1' }, async (storageDir) => { writeFileSync(join(storageDir, 'base'), 'state at the change'); });
    assert.deepEqual(s.list().map((r) => r.epoch), [1, 2]);
    assert.deepEqual(s.list()[0], { epoch: 1, voters, change: '7.1' });
    assert.equal(readFileSync(join(s.storageDir(1), 'base'), 'utf8'), 'state at the change');
    assert.equal(existsSync(s.storageDir(2)), false, 'no storage where this agent does not vote');
    await assert.rejects(s.create({ epoch: 1, voters, change: '7.1' }, null), /epoch 1 already exists/);
    assert.ok(existsSync(join(dir, '1', 'epoch.json')));
  } finally {
    done();
  }
});

test('a half-made epoch (a crash before its rename) is removed, never listed', async () => {
  const { dir, s, done } = store();
  try {
    await s.create({ epoch: 1, voters, change: '7.1' }, null);
    mkdirSync(join(dir, '2.tmp', 'consensus'), { recursive: true });
    writeFileSync(join(dir, '2.tmp', 'epoch.json'), JSON.stringify({ epoch: 2, voters, change: '1.1' }));
    assert.deepEqual(s.list().map((r) => r.epoch), [1]);
    assert.equal(existsSync(join(dir, '2.tmp')), false);
    // A failing prepare leaves nothing listed either.
    await assert.rejects(s.create({ epoch: 2, voters, change: '1.1' }, async () => { throw new Error('disk full'); }), /disk full/);
    assert.deepEqual(s.list().map((r) => r.epoch), [1]);
  } finally {
    done();
  }
});

test('a damaged epoch record is an error naming the file and the fix, not a guess', async () => {
  const { dir, s, done } = store();
  try {
    await s.create({ epoch: 1, voters, change: '7.1' }, null);
    writeFileSync(join(dir, '1', 'epoch.json'), '{"epoch": 1, "voters": ["peerA"');
    assert.throws(() => s.list(), /cannot read .*epochs\/1\/epoch\.json: .*restore it from a backup, or remove .*epochs\/1/);
    writeFileSync(join(dir, '1', 'epoch.json'), JSON.stringify({ epoch: 1, voters: ['peerA', 'peerB'], change: '7.1' }));
    assert.throws(() => s.list(), /epochs\/1\/epoch\.json is damaged \(voters: a voter set has 3, 5, 7 distinct voters\)/);
    writeFileSync(join(dir, '1', 'epoch.json'), JSON.stringify({ epoch: 3, voters, change: '7.1' }));
    assert.throws(() => s.list(), /is damaged \(it names epoch 3\)/);
    await assert.rejects(s.create({ epoch: 0, voters, change: '7.1' }, null), /epoch/, 'epoch 0 is the config\'s');
  } finally {
    done();
  }
});

test('a retired epoch is marked durably and its group\'s records removed; its record stays listed', async () => {
  const { dir, s, done } = store();
  try {
    assert.equal(s.retiredThrough(), -1);
    mkdirSync(s.storageDir(0), { recursive: true });
    writeFileSync(join(s.storageDir(0), 'wal'), 'epoch 0 records');
    await s.create({ epoch: 1, voters, change: '7.1' }, async (d) => { writeFileSync(join(d, 'wal'), 'epoch 1 records'); });
    await s.create({ epoch: 2, voters, change: '9.0' }, async (d) => { writeFileSync(join(d, 'wal'), 'epoch 2 records'); });
    s.retire(0);
    assert.equal(s.retiredThrough(), 0);
    assert.equal(existsSync(s.storageDir(0)), false, 'epoch 0\'s storage removed');
    assert.ok(existsSync(s.storageDir(1)));
    s.retire(1);
    assert.equal(s.retiredThrough(), 1);
    assert.equal(existsSync(s.storageDir(1)), false);
    assert.equal(readFileSync(join(s.storageDir(2), 'wal'), 'utf8'), 'epoch 2 records', 'the newest epoch\'s storage untouched');
    assert.deepEqual(s.list().map((r) => r.epoch), [1, 2], 'records of retired epochs stay listed');
    s.retire(0); // an older one again: the mark does not go back
    assert.equal(s.retiredThrough(), 1);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'retired.json'), 'utf8')), { retiredThrough: 1 });
  } finally {
    done();
  }
});

test('storage a crash left between the retirement mark and the removal is removed at the next listing', async () => {
  const { dir, s, done } = store();
  try {
    await s.create({ epoch: 1, voters, change: '7.1' }, async (d) => { writeFileSync(join(d, 'wal'), 'epoch 1 records'); });
    mkdirSync(s.storageDir(0), { recursive: true });
    writeFileSync(join(dir, 'retired.json'), JSON.stringify({ retiredThrough: 0 }));
    assert.deepEqual(s.list().map((r) => r.epoch), [1]);
    assert.equal(existsSync(s.storageDir(0)), false);
    assert.ok(existsSync(s.storageDir(1)), 'not retired: kept');
  } finally {
    done();
  }
});

test('a damaged retirement mark is an error naming the file and the fix', async () => {
  const { dir, s, done } = store();
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'retired.json'), '{"retiredThrough": -3}');
    assert.throws(() => s.retiredThrough(), (e: Error) => e.message.includes(join(dir, 'retired.json')) && /damaged/.test(e.message) && /retiredThrough/.test(e.message));
    writeFileSync(join(dir, 'retired.json'), '{"retiredThr');
    assert.throws(() => s.list(), /cannot read .*retired\.json.*restore it from a backup/);
  } finally {
    done();
  }
});
