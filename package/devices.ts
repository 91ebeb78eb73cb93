// `import … from 'covey/devices'`: the typed device interfaces a plugin talks to, and the
// simulated devices a plugin's scenario and tests give an agent (devices/README.md).

export type {
  Actuator, Autopilot, AutopilotState, Battery, BatteryReading, Cancel, Device, DeviceErrorCode, DeviceKind, DeviceStatus,
  GeoPoint, Position, Sensor, WatchOptions,
} from '../devices/types.ts';
export { DeviceError, AVAILABLE, NOT_OPENED } from '../devices/types.ts';
export { SimSensor, simScalarSensor, type SimSensorOptions } from '../devices/sim/sensor.ts';
export { SimActuator, type SimActuatorOptions } from '../devices/sim/actuator.ts';
export { SimBattery, type SimBatteryOptions } from '../devices/sim/battery.ts';
export { SimAutopilot, SIM_MODES, type SimAutopilotOptions } from '../devices/sim/autopilot.ts';
export type { SimDeviceOptions } from '../devices/sim/base.ts';
export { ManualClock, realTimeClock, seededRandom, type DeviceClock, type RandomSource } from '../devices/clock.ts';
