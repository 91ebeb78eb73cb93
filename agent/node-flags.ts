// The Node flags and environment an agent process runs with (`covey swarm up`, the network
// nemesis, the arm64 check; docs/agent.md's systemd unit says the same; the environment is
// `agentEnv` below). Both flags trade nothing measurable for memory on a small device
// (docs/benchmarks.md, "Idle RSS: a smaller young generation, one V8 worker"):
//   --max-semi-space-size=1  V8's young generation stays at 1 MiB a semi-space (V8's own maximum is
//                            16, grown to under load and kept; the `covey` command uses 4): an
//                            idle agent's heap pages grew 22.0 → 28.9 MiB from 25 to 85 s after
//                            start at 4, and 18.6 → 23.9 MiB at 1.
//   --v8-pool-size=1         one V8 worker thread for concurrent marking and compilation instead of
//                            four: fewer thread stacks and malloc arenas, on devices of 2–4 cores.
// V8 options beyond these (--no-opt, --single-threaded, …) are deliberately absent: any V8 flag
// that changes its flag hash makes Node refuse its built-in code cache, and every builtin module is
// compiled again: +18 MiB of RSS, measured.

export const agentNodeFlags: readonly string[] = ['--max-semi-space-size=1', '--v8-pool-size=1'];

/**
 * The environment an agent process runs with: the caller's, with `UV_USE_IO_URING=1` unless the
 * caller set it either way. libuv then does the write-ahead log's durable writes through io_uring
 * instead of handing each to a thread of its pool and waking the event loop from there: a lone
 * client's p50 went 2.34 → 2.09 and 2.67 → 2.49 ms, its CPU a command about a tenth lower (two sets
 * of interleaved fresh swarms on this machine; docs/benchmarks.md, "io_uring for the log's
 * writes"). libuv turned it off by default because a process that drops privileges with setuid
 * keeps a ring made before (CVE-2024-22017); an agent never changes its user. Where the kernel or a
 * seccomp profile refuses io_uring, libuv falls back to its thread pool by itself.
 */
export function agentEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return base.UV_USE_IO_URING === undefined ? { ...base, UV_USE_IO_URING: '1' } : base;
}
