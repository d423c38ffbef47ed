/** Error catalogue of the scene generator: every thrown error carries one of these stable codes. */
export const SCENE_ERROR_CODES = {
  /** An ffmpeg child exited non-zero or could not start. */
  SCENE_FFMPEG_FAILED: 'ffmpeg failed',
  /** A scene spec is malformed or asks for something the generator cannot draw. */
  SCENE_BAD_SPEC: 'invalid scene spec',
  /** A ground-truth file does not match the documented format. */
  SCENE_BAD_TRUTH: 'invalid ground-truth file',
  /** A plate string is not a valid plate of the requested type. */
  SCENE_BAD_PLATE: 'invalid plate string',
  /** A required asset (font, source photo) is missing. */
  SCENE_MISSING_ASSET: 'missing asset',
} as const;

/** One of the stable error codes above. */
export type SceneErrorCode = keyof typeof SCENE_ERROR_CODES;

/** Error thrown by the scene generator. */
export class SceneError extends Error {
  override readonly name = 'SceneError';
  constructor(
    readonly code: SceneErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}
