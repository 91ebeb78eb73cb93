// consensus-testing's door: the property-test kit (lint/layout.ts lets only tests and test helpers
// import it, since it loads fast-check). setup.ts is not exported: node --test --import loads it.

export { batchArbitrary, commandArbitrary, payloadArbitrary } from './arbitraries.ts';
export { runSchedule, type Action } from './schedule.ts';
