/**
 * Camera lifecycle: discovered → registered → active → retired.
 *
 * - discovered → registered: an installer gave it a code, a place and settings;
 * - discovered → retired: dismissed (not a camera we use);
 * - registered → active: analysis starts (the edge is told through its SiteConfig);
 * - registered → retired;
 * - active → registered: suspended (maintenance, relocation): analysis stops, the entry stays;
 * - active → retired: taken out of service for good.
 * Retired is final: a redeployed device is registered again as a new camera (its identity is
 * free again once the old entry is retired).
 */
import { GatewayError } from '../errors.ts';
import type { CameraLifecycle } from './types.ts';

/** Allowed next states. */
export const LIFECYCLE_TRANSITIONS: Readonly<Record<CameraLifecycle, readonly CameraLifecycle[]>> =
  Object.freeze({
    discovered: ['registered', 'retired'],
    registered: ['active', 'retired'],
    active: ['registered', 'retired'],
    retired: [],
  });

/** Whether `from → to` is allowed. */
export function canTransition(from: CameraLifecycle, to: CameraLifecycle): boolean {
  return LIFECYCLE_TRANSITIONS[from].includes(to);
}

/** Throw GATEWAY_ERR_LIFECYCLE unless `from → to` is allowed. */
export function assertTransition(from: CameraLifecycle, to: CameraLifecycle): void {
  if (!canTransition(from, to)) {
    const next = LIFECYCLE_TRANSITIONS[from];
    throw new GatewayError(
      'GATEWAY_ERR_LIFECYCLE',
      `${from} → ${to} is not allowed (from ${from}: ${next.length === 0 ? 'none, it is final' : next.join(', ')})`,
    );
  }
}

/** Whether a camera in `lifecycle` is part of its site's config (retired and discovered are not). */
export function inSiteConfig(lifecycle: CameraLifecycle): boolean {
  return lifecycle === 'registered' || lifecycle === 'active';
}
