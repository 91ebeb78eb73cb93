// The membership core's public surface (README.md): the pure SWIM/Lifeguard state machine, its
// types, options and formulas, the validator a driver runs on every decoded message, and the
// signed statements with the `Signer` and `Trust` a driver hands in (the Ed25519 signer is the
// driver's: ed25519.ts).
export { Membership, type Seed, type Result } from './membership.ts';
export * from './types.ts';
export {
  membershipDefaults, membershipConfig, retransmitLimit, suspicionBoundsMs, suspicionTimeoutMs, memberlistSuspicionTimeoutMs, defaultMeta,
  idBytesMax, addrBytesMax, metaBytesMax, metaListMax, metaNameBytesMax, gossipItemsPerMessageMax, membersMax, relaysMax, incarnationMax, sigBytesMax,
  type MembershipOptions, type MembershipConfig,
} from './config.ts';
export { validateMessage, validateMeta, isMemberId, type Validated } from './validate.ts';
export { metaProblem, metaSizeBytes, utf8Bytes } from './meta.ts';
export {
  statementDomain, statementText, statementBytes, digestSigner, trustEveryone, type Statement, type Signer, type Trust,
} from './statement.ts';
