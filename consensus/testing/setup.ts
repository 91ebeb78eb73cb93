// Loaded before every test file (npm test: node --test --import). A failing property is shrunk to
// a small counterexample, but never for longer than this: a run that reaches the limit is reported
// as a failure with what it has, instead of keeping CI busy for many minutes.
import fc from 'fast-check';

fc.configureGlobal({ interruptAfterTimeLimit: 120_000, markInterruptAsFailure: true, endOnFailure: process.env.COVEY_NO_SHRINK === '1' });
