// The Node flags an agent process runs with (`covey swarm up`, the network nemesis, the arm64
// check; docs/agent.md's systemd unit says the same). Both trade nothing measurable for memory on
// a small device (docs/benchmarks.md, "Idle RSS: a smaller young generation, one V8 worker"):
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
