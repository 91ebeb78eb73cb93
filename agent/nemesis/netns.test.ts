import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { lossAvailable, NetLab, NetLabError, netLabUnavailable, removeLeftovers } from './netns.ts';

const unavailable = netLabUnavailable();
const skip = unavailable === null ? false : `${unavailable}; the network nemesis tests need it`;
const children: ChildProcess[] = [];
after(() => { for (const c of children) c.kill('SIGKILL'); });

/** A TCP echo server on port 7000 inside agent i's namespace. */
async function echoServer(lab: NetLab, i: number): Promise<void> {
  const [cmd, ...args] = lab.exec(i, [process.execPath, '-e', `require('net').createServer((c) => c.pipe(c)).listen(7000, '${lab.address(i)}', () => console.log('up'))`]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`echo server exited ${code}`)));
  });
}

/** Whether agent `from` gets an echo from agent `to` within 700 ms. */
function reaches(lab: NetLab, from: number, to: number): boolean {
  const script = `const s = require('net').connect(7000, '${lab.address(to)}', () => s.write('x'));
    s.on('data', () => process.exit(0)); s.on('error', () => process.exit(1)); setTimeout(() => process.exit(2), 700);`;
  const [cmd, ...args] = lab.exec(from, [process.execPath, '-e', script]);
  return spawnSync(cmd, args).status === 0;
}

function namespaces(): string {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
}

describe('NetLab (network namespaces; needs root)', { skip }, () => {
  it('connects every agent, cuts one way and both ways, heals, and leaves nothing behind', async () => {
    const lab = new NetLab(3);
    try {
      lab.create();
      for (let i = 0; i < 3; i++) await echoServer(lab, i);
      assert.ok(reaches(lab, 0, 1) && reaches(lab, 1, 2) && reaches(lab, 2, 0), 'a whole lab connects');
      lab.cut(0, 1);
      assert.equal(reaches(lab, 0, 1), false, 'a cut 0 → 1 stops what 0 sends to 1');
      assert.equal(reaches(lab, 1, 0), false, 'and with it TCP from 1 to 0, whose answers 0 cannot send');
      assert.ok(reaches(lab, 0, 2) && reaches(lab, 2, 1), 'other links are untouched');
      lab.heal();
      assert.ok(reaches(lab, 0, 1), 'healed');
      lab.split([0], [1, 2]);
      assert.equal(reaches(lab, 0, 2), false);
      assert.equal(reaches(lab, 2, 0), false);
      assert.ok(reaches(lab, 1, 2));
      assert.deepEqual(lab.cuts().length, 4);
      lab.heal();
      assert.deepEqual(lab.cuts(), []);
      assert.ok(reaches(lab, 2, 0));
      if (lossAvailable()) {
        lab.loss(0, 50);
        lab.noLoss(0);
        assert.ok(reaches(lab, 0, 1), 'loss undone');
      }
      assert.throws(() => lab.cut(0, 3), NetLabError);
    } finally {
      lab.destroy();
    }
    assert.ok(!namespaces().includes(lab.namespace(0)), 'the namespaces are gone');
    assert.ok(!spawnSync('ip', ['link', 'show'], { encoding: 'utf8' }).stdout.includes(`cvnem${process.pid}`), 'the bridge is gone');
  });

  it('removes the lab of a run that died without cleaning up', () => {
    const dead = 4_194_400; // above any pid Linux hands out (pid_max is at most 4194304)
    spawnSync('ip', ['netns', 'add', `covey-nem-${dead}-0`]);
    spawnSync('ip', ['link', 'add', `cvnem${dead}`, 'type', 'bridge']);
    assert.ok(namespaces().includes(`covey-nem-${dead}-0`));
    removeLeftovers();
    assert.ok(!namespaces().includes(`covey-nem-${dead}-0`), 'the dead run\'s namespace is removed');
    assert.equal(spawnSync('ip', ['link', 'show', `cvnem${dead}`]).status === 0, false, 'and its bridge');
  });
});
