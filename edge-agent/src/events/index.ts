/** Events: track report → proto Event with evidence, and the sinks events go to. */
export { buildEvent } from './build.ts';
export type { EventContext, EventEvidenceOptions } from './build.ts';
export { cropBoxWithMargin, encodeBoundedJpeg, makeEvidence, sha256Hex } from './evidence.ts';
export type { BoundedJpeg, BoundedJpegOptions, EvidenceOptions, EvidenceParts } from './evidence.ts';
export { directionToProto, inboundFromProto, plateColourToProto } from './proto-map.ts';
export { JsonLinesEventSink, MemoryEventSink, eventFromJsonLine, eventToJsonLine } from './sink.ts';
export type { EventSink, JsonLinesSinkOptions } from './sink.ts';
