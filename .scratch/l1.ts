import { open } from 'lmdb';
const root = open({ path: '/tmp/l1-test', noSync: true, overlappingSync: false });
console.log(Object.keys(root), root.noSync, (root as any).env && Object.keys((root as any).env));
