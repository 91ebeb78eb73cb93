// `import … from 'covey'`: the HTTP client of a running agent, and the result types its calls
// return. The npm package's main entry point (package.json "exports"); the plugin API is
// `covey/plugin`, the test kit `covey/testing`, the device interfaces `covey/devices`.

export { AgentClient, AgentClientError, type ClientIds } from '../agent/client.ts';
export type { CommandResult, TaskView } from '../consensus/index.ts';
export type { PluginState, PluginStatus } from '../agent/plugins/host.ts';
export type { VoterEntry, VotersRequest, VotersView } from '../agent/voters-api.ts';
