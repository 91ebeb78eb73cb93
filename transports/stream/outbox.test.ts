// The shared outbox: drop-oldest at both bounds (dropping the newest instead fails these), byte
// accounting, the writer's wait, the disconnect race, and the frame-error mapping.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as lp from 'it-length-prefixed';
import { FrameOutbox, frameReadError, writeFrames } from './outbox.ts';

const frame = (tag: number, size = 1) => ({ tag, bytes: new Uint8Array(size) });

describe('FrameOutbox', () => {
  it('at the frame bound drops the oldest frames and keeps the newest', () => {
    const box = new FrameOutbox<ReturnType<typeof frame>>(3, 1_000_000);
    for (let i = 1; i <= 3; i++) assert.equal(box.push(frame(i)), 0);
    assert.equal(box.push(frame(4)), 1);
    assert.equal(box.push(frame(5)), 1);
    assert.deepEqual(box.frames.map((f) => f.tag), [3, 4, 5]);
    assert.equal(box.bytes, 3);
  });

  it('at the byte bound drops the oldest until it fits, but always keeps the frame just queued', () => {
    const box = new FrameOutbox<ReturnType<typeof frame>>(100, 10);
    box.push(frame(1, 4));
    box.push(frame(2, 4));
    assert.equal(box.push(frame(3, 4)), 1, 'the oldest went');
    assert.deepEqual(box.frames.map((f) => f.tag), [2, 3]);
    assert.equal(box.bytes, 8);
    assert.equal(box.push(frame(4, 50)), 2, 'a frame alone over the bound pushes out everything older');
    assert.deepEqual(box.frames.map((f) => f.tag), [4]);
    assert.equal(box.bytes, 50);
  });

  it('shift takes the oldest and its bytes; clear empties and counts', () => {
    const box = new FrameOutbox<ReturnType<typeof frame>>(10, 100);
    box.push(frame(1, 2));
    box.push(frame(2, 3));
    assert.equal(box.shift()?.tag, 1);
    assert.equal(box.bytes, 3);
    assert.equal(box.length, 1);
    assert.equal(box.clear(), 1);
    assert.equal(box.bytes, 0);
    assert.equal(box.shift(), undefined);
  });

  it('wait ends on notify (true) or after its delay (false)', async () => {
    const box = new FrameOutbox(1, 1);
    const woken = box.wait(10_000);
    box.notify();
    assert.equal(await woken, true);
    assert.equal(await box.wait(5), false);
    assert.equal(box.wake, null);
    const forever = box.wait();
    box.notify();
    assert.equal(await forever, true);
  });
});

describe('writeFrames', () => {
  it('writes every frame length-prefixed and reports no break', async () => {
    const box = new FrameOutbox(1, 1);
    const got: number[] = [];
    const sink = async (source: AsyncIterable<Uint8Array | { subarray(): Uint8Array }>) => {
      for await (const chunk of source) got.push(...(chunk instanceof Uint8Array ? chunk : chunk.subarray()));
    };
    async function* frames() { yield new Uint8Array([7, 8]); yield new Uint8Array([9]); }
    assert.equal(await writeFrames(box, frames(), { sink } as never, new Promise(() => {})), false);
    assert.deepEqual(got, [2, 7, 8, 1, 9]);
  });

  it('writes each frame, and each batch of frames, as one chunk: one yamux frame, one encryption, one socket write', async () => {
    const box = new FrameOutbox(1, 1);
    const chunks: number[][] = [];
    const sink = async (source: AsyncIterable<Uint8Array | { subarray(): Uint8Array }>) => {
      for await (const chunk of source) chunks.push([...(chunk instanceof Uint8Array ? chunk : chunk.subarray())]);
    };
    async function* frames() { yield new Uint8Array([7, 8]); yield [new Uint8Array([9]), new Uint8Array(200).fill(5)]; yield []; }
    assert.equal(await writeFrames(box, frames(), { sink } as never, new Promise(() => {})), false);
    assert.equal(chunks.length, 2, 'an empty batch writes nothing');
    assert.deepEqual(chunks[0], [2, 7, 8]);
    assert.deepEqual(chunks[1], [1, 9, 200, 1, ...new Array(200).fill(5)], 'a varint length of two bytes, in the same chunk');
    // What it-length-prefixed reads back from the batch: the frames as written.
    const read: number[][] = [];
    for await (const f of lp.decode([Uint8Array.from(chunks[1])])) read.push([...f.subarray()]);
    assert.deepEqual(read, [[9], new Array(200).fill(5)]);
  });

  it('ends when the link breaks, though the sink never settles', async () => {
    const box = new FrameOutbox(1, 1);
    const sink = () => new Promise<void>(() => {});
    async function* frames() { yield new Uint8Array([1]); }
    const write = writeFrames(box, frames(), { sink } as never, new Promise(() => {}));
    box.breakLink();
    assert.equal(await write, true);
    assert.equal(box.broken, null);
    box.breakLink(); // a second disconnect is a no-op
  });

  it('ends when stop settles, without a break', async () => {
    const box = new FrameOutbox(1, 1);
    async function* frames() { yield new Uint8Array([1]); }
    assert.equal(await writeFrames(box, frames(), { sink: () => new Promise<void>(() => {}) } as never, Promise.resolve()), false);
  });
});

describe('frameReadError', () => {
  it('maps it-length-prefixed\'s errors to the drop reasons, and nothing else', () => {
    const named = (name: string) => Object.assign(new Error('x'), { name });
    assert.equal(frameReadError(named('InvalidDataLengthError')), 'oversized');
    assert.equal(frameReadError(named('InvalidDataLengthLengthError')), 'oversized');
    assert.equal(frameReadError(named('UnexpectedEOFError')), 'truncated');
    assert.equal(frameReadError(named('AbortError')), null);
    assert.equal(frameReadError(null), null);
  });
});
