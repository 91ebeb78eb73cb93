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
  return { dir, s: new EpochStore(dir), done: () => rmSync(root, { recursive: true, force: true }) };
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
