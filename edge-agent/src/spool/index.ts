/** The durable event spool (disk, group-committed, bounded) between the detector and MQTT. */
export { openSpool, Spool } from './spool.ts';
export type { SpoolBatch, SpoolOptions, SpoolStats } from './spool.ts';
export { nodeSpoolFs } from './fs.ts';
export type { SpoolFile, SpoolFs } from './fs.ts';
