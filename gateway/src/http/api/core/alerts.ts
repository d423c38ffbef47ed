/** Alert access shared by REST and gRPC: list, acknowledge and stream alerts within the caller's area. */
import type { Alert, AlertChange } from '../../../alerts/alerts.ts';
import { assertAuthorized } from '../../../auth/roles.ts';
import type { GatewayDeps } from '../deps.ts';
import { limiterOf, type AccessContext } from './context.ts';
import { decodeListCursor, encodeListCursor } from './paging.ts';
import { notFound, placeVisible } from './scope.ts';
import { runWatch } from './watch.ts';

/** Alerts in the caller's area, newest first, one page. */
export function listAlerts(
  deps: GatewayDeps,
  ctx: AccessContext,
  input: { open?: boolean; limit: number; cursor?: string },
): { items: Alert[]; nextCursor: string | null } {
  assertAuthorized(ctx.principal, 'alert.read');
  const before = decodeListCursor('alerts', input.cursor, 'number');
  const items = deps.alerts.list({
    scope: ctx.principal.scope,
    ...(input.open === true ? { open: true } : {}),
    ...(before !== undefined ? { beforeId: before } : {}),
    limit: input.limit + 1,
  });
  const more = items.length > input.limit;
  const page = items.slice(0, input.limit);
  const last = page[page.length - 1];
  return {
    items: page,
    nextCursor: more && last !== undefined ? encodeListCursor('alerts', last.alertId) : null,
  };
}

/** Acknowledge an alert in the caller's area (NOT_FOUND when outside it). */
export function acknowledgeAlert(
  deps: GatewayDeps,
  ctx: AccessContext,
  alertId: number,
  note?: string,
): Alert {
  assertAuthorized(ctx.principal, 'alert.acknowledge');
  const alert = Number.isSafeInteger(alertId) && alertId > 0 ? deps.alerts.get(alertId) : undefined;
  if (alert === undefined || !placeVisible(ctx.principal.scope, alert.place))
    throw notFound(`alert ${alertId}`);
  return deps.alerts.acknowledge(ctx.principal, alertId, note);
}

/** What an alert stream sends. */
export interface AlertStreamItem {
  change: AlertChange['change'] | 'open';
  alert: Alert;
}

/** Run an alert stream until `signal` aborts (counts against the caller's stream limit). */
export function prepareAlertStream(
  deps: GatewayDeps,
  ctx: AccessContext,
  input: { includeOpen?: boolean },
): { run(send: (item: AlertStreamItem) => Promise<void> | undefined, signal: AbortSignal): Promise<number> } {
  assertAuthorized(ctx.principal, 'alert.read');
  const scope = ctx.principal.scope;
  const release = limiterOf(deps).openStream(ctx.principal);
  return {
    async run(send, signal) {
      try {
        // Subscribe before reading the open alerts, so nothing raised in between is missed.
        return await runWatch<AlertStreamItem>({
          subscribe: (push) => {
            const off = deps.alerts.changed.on((c) => {
              if (placeVisible(scope, c.alert.place)) push({ change: c.change, alert: c.alert });
            });
            if (input.includeOpen === true) {
              for (const alert of deps.alerts.list({ scope, open: true, limit: 1000 }).reverse()) {
                push({ change: 'open', alert });
              }
            }
            return off;
          },
          send,
          signal,
          maxQueued: 10_000,
        });
      } finally {
        release();
      }
    },
  };
}
