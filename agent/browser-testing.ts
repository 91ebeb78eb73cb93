// Headless Chromium for the tests of what people look at (the dashboard, the simulation report).
// Debian's `chromium` driven by playwright-core; without it those tests skip and say how to get it,
// so `npm test` stays green on a machine without a browser while CI (.ci/run installs chromium)
// runs them.
import { existsSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';

const candidates = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** The Chromium executable, or null when none is installed. `COVEY_CHROMIUM` overrides. */
export function chromiumPath(): string | null {
  const fromEnv = process.env.COVEY_CHROMIUM;
  if (fromEnv !== undefined && fromEnv !== '') return existsSync(fromEnv) ? fromEnv : null;
  return candidates.find((path) => existsSync(path)) ?? null;
}

/** The reason to give `node:test`'s `skip` when no browser is there, or false when one is. */
export function browserSkipReason(): string | false {
  return chromiumPath() === null
    ? 'no Chromium: install it with `apt-get install chromium` (or set COVEY_CHROMIUM to its path)'
    : false;
}

/** Launches headless Chromium; the caller closes it. Throws when none is installed. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === null) throw new Error(browserSkipReason() || 'no Chromium');
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath, headless: true, args: ['--headless', '--no-sandbox'] });
}

/** A fresh directory for a test's screenshots (kept after the test, for a person to look at). */
export function screenshotDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `covey-${prefix}-screens-`));
}
