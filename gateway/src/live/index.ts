/** The live event bus and resumable event streams (REST SSE and gRPC StreamEvents). */
export { LiveEventBus, LiveSubscription, ResumeMemoryStore, encodedEvent } from './bus.ts';
export type { LiveEventBusOptions, LiveItem, ResumeMemory, SubscribeOptions } from './bus.ts';
export { comparePosition, decodeStreamCursor, encodeStreamCursor, streamCursorEncoder } from './cursor.ts';
export type { StreamPosition } from './cursor.ts';
export { eventMatcher, filterFingerprint, filterToSearch, validateEventFilter } from './filter.ts';
export type { EventFilterInput, PlaceOf, ValidEventFilter } from './filter.ts';
export { DEFAULT_STREAM_LIMITS, runEventStream } from './stream.ts';
export type { EventStreamOptions, StreamLimits, StreamMessage, StreamSink, StreamStart } from './stream.ts';
export { cameraStatusFeedFromSiteState } from './camera-status.ts';
export type { CameraStatusFeed } from './camera-status.ts';
