/**
 * Every error the simulator and the netns helper throw, each with a stable `code` so tests and
 * the CLI can tell them apart without matching messages.
 */

/** Stable error codes of the ONVIF simulator and the netns helper. */
export const SIM_ERROR_CODES = {
  /** A camera or CLI config is invalid; the message lists `path message` lines. */
  SIM_ERR_CONFIG: 'SIM_ERR_CONFIG',
  /** An address outside 127.0.0.0/8 was given: the simulator only ever binds or sends to loopback. */
  SIM_ERR_NOT_LOOPBACK: 'SIM_ERR_NOT_LOOPBACK',
  /** Multicast discovery was requested outside an isolated network namespace. */
  SIM_ERR_MULTICAST_GUARD: 'SIM_ERR_MULTICAST_GUARD',
  /** A network namespace could not be created (no root, no user namespaces, no `unshare`). */
  SIM_ERR_NETNS_UNAVAILABLE: 'SIM_ERR_NETNS_UNAVAILABLE',
  /** The namespace was created but is not isolated, or its loopback setup failed. */
  SIM_ERR_NETNS_SETUP: 'SIM_ERR_NETNS_SETUP',
  /** The command run inside the namespace did not finish in time. */
  SIM_ERR_NETNS_TIMEOUT: 'SIM_ERR_NETNS_TIMEOUT',
  /** An operation was called on a camera that has been stopped. */
  SIM_ERR_STOPPED: 'SIM_ERR_STOPPED',
} as const;

/** One of {@link SIM_ERROR_CODES}. */
export type SimErrorCode = keyof typeof SIM_ERROR_CODES;

/** Base class of every simulator error. */
export class SimError extends Error {
  readonly code: SimErrorCode;

  constructor(code: SimErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SimError';
    this.code = code;
  }
}

/** Invalid configuration; `issues` holds one `path message` string per problem. */
export class SimConfigError extends SimError {
  readonly issues: readonly string[];

  constructor(issues: readonly string[]) {
    super('SIM_ERR_CONFIG', `invalid simulator config:\n  ${issues.join('\n  ')}`);
    this.name = 'SimConfigError';
    this.issues = issues;
  }
}

/** Refusal to enable multicast WS-Discovery where it could reach a real network. */
export class MulticastGuardError extends SimError {
  constructor(message: string) {
    super('SIM_ERR_MULTICAST_GUARD', message);
    this.name = 'MulticastGuardError';
  }
}

/** A network namespace cannot be created on this machine; tests skip with `message` as the reason. */
export class NetnsUnavailableError extends SimError {
  constructor(detail: string) {
    super('SIM_ERR_NETNS_UNAVAILABLE', `cannot create network namespace: ${detail}`);
    this.name = 'NetnsUnavailableError';
  }
}

/** Whether `err` is a {@link SimError} with the given code. */
export function isSimError(err: unknown, code?: SimErrorCode): err is SimError {
  return err instanceof SimError && (code === undefined || err.code === code);
}
