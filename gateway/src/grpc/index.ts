/** The gRPC API for integrators. */
export { GRPC_SERVICES, PROTO_ROOT, startGrpcServer } from './server.ts';
export type { GrpcServer, GrpcServerOverrides } from './server.ts';
