// The survey example: the plugin (what runs on every agent) and its simulation scenario (what
// `covey sim --plugin examples/survey` needs to run it). See examples/survey/README.md.
export { survey as default, surveyOptions, coverageTopic, coverageMessage, taskIdOf } from './plugin.ts';
export { simulation } from './simulation.ts';
