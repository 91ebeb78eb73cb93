// Schedules that once broke the core, replayed exactly. Each fixture names how it was found and
// what was wrong; the test fails if the group misbehaves the same way again.

import { test } from 'node:test';
import { readdirSync, readFileSync } from 'node:fs';
import { type Action, runSchedule } from '../testing/index.ts';

interface Fixture {
  readonly found: string;
  readonly bug: string;
  readonly config: { n: number; f: number; e: number; batch: number };
  readonly actions: Action[];
}

const dir = new URL('./regressions/', import.meta.url);
for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
  const fx = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as Fixture;
  test(`regression ${file}: ${fx.bug}`, () => {
    const { n, f, e, batch } = fx.config;
    runSchedule(n, f, e, batch, fx.actions);
  });
}
