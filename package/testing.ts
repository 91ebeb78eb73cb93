// `import … from 'covey/testing'`: what a plugin's own tests need (docs/plugins.md, "Testing a
// plugin"). In process: a TestWorld (manual clock, Covey's real state machine as the swarm's
// consensus, a telemetry bus, membership events on demand), testEnvironment for one agent of it,
// the PluginHost that supervises plugins as an agent does, and loadPlugin to load one by module
// path or package name with its options checked. In the simulator: runPluginSimulation, the
// engine of `covey sim --plugin`, for a test that runs the plugin on a whole simulated swarm.

export { TestWorld, testEnvironment, settle } from '../agent/plugins/testing.ts';
export { PluginHost, type LoadedPlugin, type PluginStatus, type PluginState, type SupervisionOptions } from '../agent/plugins/host.ts';
export { loadPlugin, loadPlugins, PluginLoadError, type PluginEntry } from '../agent/plugins/loader.ts';
export type { PluginEnvironment } from '../agent/plugins/environment.ts';
export { ManualClock, seededRandom, type DeviceClock, type RandomSource } from '../devices/clock.ts';
export { runPluginSimulation, loadPluginModule, type PluginModule, type PluginRunOptions, type PluginRunResult } from '../sim/plugins/run.ts';
