/** The event index on InfluxDB: ingest writes through `EventIndex`, the APIs search through `EventSearch`. */
export { IndexConfigSchema, indexOptionsFromConfig, type IndexConfig } from './config.ts';
export { InfluxEventIndex, type InfluxEventIndexOptions } from './influx-index.ts';
export { normalisePlate, patternProblem, plateBucket, plateProblem, wildcardToRegex } from './plate.ts';
export { indexProblem, pointTimeNs } from './schema.ts';
export { isUlid, ulidTimeMs } from './time.ts';
export type * from './types.ts';
export { QueryValidationError } from './validate.ts';
