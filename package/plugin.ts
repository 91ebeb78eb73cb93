// `import … from 'covey/plugin'`: what a plugin is written against (docs/plugins.md): definePlugin,
// the context's types, the errors a plugin may catch, and the type of the `simulation` scenario a
// plugin module exports for `covey sim --plugin`. Types only, apart from definePlugin and the
// error classes, so a plugin loads nothing else of Covey.

export {
  definePlugin, pluginNamePattern, CapabilityError, UnavailableError, PluginStoppedError,
  type Capabilities, type Cancel, type DeviceInfo, type DevicesApi, type KvApi, type MemberChange, type MembershipApi,
  type MemberState, type MemberView, type PluginClock, type PluginContext, type PluginDefinition, type PluginLogger,
  type PluginStore, type StaleRead, type TaskClaim, type TaskOutcome, type TasksApi, type TaskView, type TelemetryApi, type Topic,
} from '../agent/plugins/api.ts';
export type { PluginScenario, ScenarioAgent, ScenarioSetup, ScenarioView, Published } from '../sim/plugins/scenario.ts';
export type { Actuator, Autopilot, Battery, BatteryReading, Device, DeviceKind, DeviceStatus, GeoPoint, Position, Sensor } from '../devices/types.ts';
export { DeviceError } from '../devices/types.ts';
// zod, as Covey itself uses it: an options or telemetry schema built with this `z` is the very
// kind definePlugin and the agent check, whatever zod a plugin's own node_modules holds.
export { z } from 'zod';
