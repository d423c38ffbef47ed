/** The bench's real services, started on loopback and cleaned up even if the test process dies. */
export { startAedes, type Aedes, type AedesHandle, type AedesStartOptions } from './aedes.ts';
export { BENCH_ERROR_CODES, BenchServiceError, type BenchErrorCode } from './errors.ts';
export {
  influxdConfig,
  seriesRows,
  startInfluxd,
  waitForColdShards,
  type ColdShards,
  type InfluxdHandle,
  type InfluxdOptions,
  type InfluxParam,
  type InfluxPrecision,
  type InfluxQueryOptions,
  type InfluxSeries,
  type InfluxValue,
} from './influxd.ts';
export {
  mosquittoConfig,
  startMosquitto,
  writeMosquittoPasswordFile,
  type MosquittoHandle,
  type MosquittoOptions,
} from './mosquitto.ts';
export {
  boundSockets,
  groupMembers,
  isLoopback,
  listensOn,
  processGone,
  processGroupGone,
  type BoundSocket,
} from './process-state.ts';
export {
  startRtspServer,
  type RtspCredentials,
  type RtspMount,
  type RtspServerHandle,
  type RtspServerOptions,
} from './rtsp-server.ts';
