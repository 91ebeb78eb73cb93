// How check:arm64 runs an arm64 executable on this machine, or what to install so that it can.

import { existsSync } from 'node:fs';

/** Something the check needs is not installed; the message says how to install it (exit code 2). */
export class Missing extends Error {}

/** The command prefix that runs an arm64 executable here: nothing on arm64, qemu elsewhere. */
export function emulator(arch: string = process.arch, exists: (p: string) => boolean = existsSync): string[] {
  if (arch === 'arm64') return [];
  const qemu = ['/usr/bin/qemu-aarch64-static', '/usr/bin/qemu-aarch64'].find(exists);
  if (qemu === undefined) throw new Missing('qemu user emulation for aarch64 is not installed; install it: sudo apt-get install qemu-user-static');
  // Debian's multiarch paths of the arm64 C libraries the Node binary links to.
  const libs = ['/lib/ld-linux-aarch64.so.1', '/lib/aarch64-linux-gnu/libc.so.6', '/usr/lib/aarch64-linux-gnu/libstdc++.so.6', '/lib/aarch64-linux-gnu/libgcc_s.so.1'];
  const missing = libs.filter((l) => !exists(l));
  if (missing.length > 0)
    throw new Missing(`the arm64 C libraries are not installed (${missing.join(', ')}); install them: sudo dpkg --add-architecture arm64 && sudo apt-get update && sudo apt-get install libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64`);
  return [qemu, '-L', '/'];
}
