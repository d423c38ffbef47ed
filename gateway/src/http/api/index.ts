/** The REST API (fastify plugins under /api/v1, OpenAPI at /docs) and the service layer gRPC shares. */
export { ApiConfigSchema, streamLimitsFromConfig } from './config.ts';
export type { ApiConfig } from './config.ts';
export type { GatewayDeps, SnapshotSource } from './deps.ts';
export { registerRestApi } from './plugin.ts';
export { SESSION_COOKIE } from './routes/auth.ts';
