// The membership core's public surface (README.md): the pure SWIM/Lifeguard state machine, its
// types, options and formulas, and the validator a driver runs on every decoded message.
export { Membership, type Seed, type Result } from './membership.ts';
export * from './types.ts';
export {
  membershipDefaults, membershipConfig, retransmitLimit, suspicionBoundsMs, suspicionTimeoutMs, memberlistSuspicionTimeoutMs, defaultMeta,
  idBytesMax, addrBytesMax, metaBytesMax, metaListMax, metaNameBytesMax, gossipItemsPerMessageMax, membersMax, relaysMax,
  type MembershipOptions, type MembershipConfig,
} from './config.ts';
export { validateMessage, validateMeta, isMemberId, type Validated } from './validate.ts';
export { metaSizeBytes } from './meta.ts';
