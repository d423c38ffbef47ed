/**
 * The UI flows of issue 7's acceptance list, written once against a {@link UiStack} and a
 * browser: flows.test.ts runs them on the real gateway with the simulated site, pages.test.ts on
 * the REST API over seeded stores. Every step looks at what a person would see (text, rows,
 * images that loaded) and checks the outcome through the API where the page alone cannot prove
 * it (hashes of an export, an acknowledgement recorded).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { strFromU8, unzipSync } from 'fflate';
import type { BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { expect } from 'vitest';
import { makeTempDir } from '../bench/lifetime.ts';
import { waitFor } from '../bench/wait.ts';
import type { UiBrowser, Shots } from './browser.ts';
import type { StackEvent, UiStack, UiUser } from './harness.ts';

/** A reason that satisfies the gateway's rules. */
export const REASON = '案件 2025-QS-0815 盗抢车辆线索核查';

/** Sign `user` in through the sign-in page; returns the page, on the role's home page. */
export async function signIn(ctx: BrowserContext, stack: UiStack, user: UiUser): Promise<Page> {
  const page = await ctx.newPage();
  await page.goto(stack.uiUrl);
  await page.locator('input[name=username]').fill(user.username);
  await page.locator('input[name=password]').fill(user.password);
  await page.locator('[data-testid=signin-form] button[type=submit]').click();
  await page.locator('[data-testid=who]').waitFor();
  return page;
}

// Code run in the page is given as strings: this file is type-checked without the DOM library.

/** Go to a hash route. */
export async function go(page: Page, route: string): Promise<void> {
  await page.evaluate(`location.hash = ${JSON.stringify(route)}`);
}

/**
 * Wait until the first `<img>` matching `selector` shows a picture. Polled from here, not with
 * `page.waitForFunction`: that polls by evaluating a string in the page, which the UI's CSP
 * (`script-src 'self'`, no eval) refuses as soon as the first check is false.
 */
async function imgShown(page: Page, selector: string): Promise<void> {
  const img = page.locator(selector).first();
  await img.waitFor({ timeout: 30_000 });
  await expect
    .poll(
      () =>
        img.evaluate((el: unknown) => {
          // An HTMLImageElement (the project's types have no DOM lib).
          const i = el as { complete?: boolean; naturalWidth?: number };
          return i.complete === true && (i.naturalWidth ?? 0) > 0;
        }),
      { timeout: 30_000 },
    )
    .toBe(true);
}

/** Answer the reason prompt if it is open (it is asked once per search session). */
export async function answerReason(page: Page, reason = REASON): Promise<void> {
  const dialog = page.locator('[data-testid=reason-dialog]');
  await dialog.waitFor();
  await dialog.locator('input[name=reason]').fill(reason);
  await dialog.locator('button[type=submit]').click();
  await dialog.waitFor({ state: 'detached' });
}

/** Wait until `img` (by test id) shows a picture fetched through the API. */
function imageLoaded(page: Page, testId: string): Promise<void> {
  return imgShown(page, `img[data-testid="${testId}"]`);
}

/** When a flow fails: a screenshot of every page it had open (named FAILED), for the post-mortem. */
async function failureShots(contexts: readonly BrowserContext[], shots: Shots): Promise<void> {
  for (const ctx of contexts) {
    for (const page of ctx.pages()) {
      try {
        await shots.take(page, 'FAILED');
      } catch (err) {
        // The page may be gone with the failure; the original error is what matters.
        console.error('failure screenshot not taken', err);
      }
    }
  }
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

// ------------------------------------------------------------------ flow 1

/**
 * Flow 1: an installer registers a discovered camera and sees its first event. Returns the new
 * camera's id.
 */
export async function installerRegistersCamera(
  stack: UiStack,
  browser: UiBrowser,
  shots: Shots,
): Promise<string> {
  const ctx = await browser.newContext();
  try {
    const page = await signIn(ctx, stack, stack.users.installer);
    // The installer's home is the discovered-camera list.
    const card = page.locator(`[data-testid=discovered][data-endpoint="${stack.pending.endpointReference}"]`);
    await card.waitFor({ timeout: 60_000 });
    await shots.take(page, 'discovered');
    await card.locator('[data-testid=register]').click();

    await page.locator('[data-testid=step-identity]').waitFor();
    await page.locator('input[name=name]').fill('东村二号路口');
    await page.locator('input[name=code]').fill('QS-NEW-003');
    await shots.take(page, 'step-identity');
    await page.locator('[data-testid=next]').click();

    await page.locator('[data-testid=step-place]').waitFor();
    // The district is fixed by the installer's area.
    await expect.poll(() => page.locator('input[name=district]').inputValue()).toBe('青山区');
    expect(await page.locator('input[name=district]').isDisabled()).toBe(true);
    await page.locator('input[name=street]').fill('白石镇');
    await page.locator('input[name=community]').fill('东村');
    await page.locator('input[name=grid]').fill('G2');
    await page.locator('[data-testid=next]').click();

    await page.locator('[data-testid=step-position]').waitFor();
    const map = page.locator('[data-testid=pin-map] svg');
    const box = await map.boundingBox();
    if (box === null) throw new Error('no pin map');
    await page.mouse.click(box.x + box.width * 0.45, box.y + box.height * 0.55);
    await expect.poll(() => page.locator('input[name=lat]').inputValue()).not.toBe('');
    await page.getByRole('button', { name: /东 90°/ }).click();
    await shots.take(page, 'step-position');
    await page.locator('[data-testid=next]').click();

    await page.locator('[data-testid=step-use]').waitFor();
    await page.getByRole('button', { name: '村口', exact: true }).click();
    await page.getByRole('button', { name: '公共', exact: true }).click();
    await page.locator('[data-testid=next]').click();

    await page.locator('[data-testid=step-detect]').waitFor();
    expect(await page.locator('input[name=plate]').isChecked()).toBe(true);
    await page.getByRole('button', { name: '从左到右' }).click();
    // A mask: three corners on the snapshot, then "finish shape".
    const canvas = page.locator('[data-testid=mask-canvas]');
    const cb = await canvas.boundingBox();
    if (cb === null) throw new Error('no mask canvas');
    for (const [fx, fy] of [
      [0.05, 0.05],
      [0.3, 0.05],
      [0.3, 0.2],
    ] as const) {
      await page.mouse.click(cb.x + cb.width * fx, cb.y + cb.height * fy);
    }
    await page.getByRole('button', { name: '完成区域' }).click();
    await page.getByText('区域 1（3 个顶点）').waitFor();
    await shots.take(page, 'step-detect');
    await page.locator('[data-testid=next]').click();

    await page.locator('[data-testid=review]').waitFor();
    await shots.take(page, 'review');
    await page.locator('[data-testid=save]').click();

    // The install check: saved, active, frames at the edge, first detections at the gateway.
    await page.locator('[data-testid=confirm-steps]').waitFor();
    const cameraId = decodeURIComponent(/#\/installer\/cameras\/([^?]+)/.exec(page.url())?.[1] ?? '');
    expect(cameraId).toBe('QS-NEW-003');
    await page.locator('[data-testid=check-active][data-done=true]').waitFor();
    await shots.take(page, 'saved-active');
    await stack.simulateEdge?.(cameraId);
    const long = { timeout: stack.mode === 'gateway' ? 240_000 : 30_000 };
    await page.locator('[data-testid=check-frames][data-done=true]').waitFor(long);
    await page.locator('[data-testid=check-detections][data-done=true]').waitFor(long);
    await page.locator('[data-testid=install-confirmed]').waitFor();
    await shots.take(page, 'first-detection');

    // The registry agrees: active, in the installer's district, the mask stored.
    const api = await stack.login(stack.users.installer);
    const cam = await api.get<{
      lifecycle: string;
      place: { district: string };
      analysis: { masks: unknown[]; plate: boolean };
    }>(`/cameras/${cameraId}`);
    expect(cam.lifecycle).toBe('active');
    expect(cam.place.district).toBe('青山区');
    expect(cam.analysis.masks).toHaveLength(1);
    return cameraId;
  } catch (err) {
    await failureShots([ctx], shots);
    throw err;
  } finally {
    await ctx.close();
  }
}

// ------------------------------------------------------------------ flow 2

/** What flow 2 verified. */
export interface ExportCheck {
  events: number;
  files: number;
}

/**
 * Flow 2: an operator searches a plate with a reason, opens the event, sees the linked context,
 * and exports a zip whose hashes verify.
 */
export async function operatorSearchesAndExports(
  stack: UiStack,
  browser: UiBrowser,
  shots: Shots,
  target: StackEvent,
  expectLinkedSamePlate: boolean,
): Promise<ExportCheck> {
  const plate = target.plate?.text ?? '';
  expect(plate).not.toBe('');
  const ctx = await browser.newContext();
  try {
    const page = await signIn(ctx, stack, stack.users.opA);
    await go(page, '/search');
    await page.locator('[data-testid=search-form]').waitFor();
    await page.locator('input[name=plate]').fill(plate);
    await page.getByRole('button', { name: '最近 24 小时' }).click();
    await page.locator('[data-testid=search-submit]').click();
    // The reason is asked once, here, and then sent with every query of the session.
    await answerReason(page);
    await page.locator(`[data-testid=results] tr[data-event-id="${target.event_id}"]`).waitFor();
    await expect.poll(() => page.locator('[data-testid=reason-text]').textContent()).toBe(REASON);
    await shots.take(page, 'results');

    await page.locator('[data-testid=show-map]').click();
    await page.locator('[data-testid=passes-map] [data-point-id]').first().waitFor();
    await shots.take(page, 'passes-map');
    await page.getByRole('button', { name: '表格' }).click();

    await page
      .locator(`[data-testid=results] tr[data-event-id="${target.event_id}"] [data-testid=open-event]`)
      .click();
    await page.locator('[data-testid=event-fields]').waitFor();
    await expect
      .poll(() => page.locator('[data-testid=event-fields]').textContent())
      .toContain(target.event_id);
    await imageLoaded(page, 'event-crop');
    await imageLoaded(page, 'event-context');
    // Linked context: the same plate elsewhere, and cameras nearby at the same time.
    const same = page.locator('[data-testid=same-plate]');
    await same.waitFor();
    if (expectLinkedSamePlate) expect(Number(await same.getAttribute('data-count'))).toBeGreaterThan(0);
    await page.locator('[data-testid=nearby]').waitFor();
    if (stack.hasCameraSnapshots) {
      await imageLoaded(page, 'live-snapshot');
      // Refreshing every second: the picture is replaced.
      const first = await page.locator('img[data-testid=live-snapshot]').getAttribute('data-loaded-at');
      await expect
        .poll(() => page.locator('img[data-testid=live-snapshot]').getAttribute('data-loaded-at'), {
          timeout: 10_000,
        })
        .not.toBe(first);
    }
    await shots.take(page, 'event-detail');

    // Back to the results (the search re-runs with the same reason, not asked again).
    await page.goBack();
    await page.locator(`[data-testid=results] tr[data-event-id="${target.event_id}"]`).waitFor();
    expect(await page.locator('[data-testid=reason-dialog]').count()).toBe(0);
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 120_000 }),
      page.locator('[data-testid=export]').click(),
    ]);
    const tmp = makeTempDir('ui-export');
    try {
      const saved = join(tmp.path, 'export.zip');
      await download.saveAs(saved);
      await download.delete();
      await page.locator('[data-testid=export-status]').filter({ hasText: '哈希均已核验' }).waitFor();
      await shots.take(page, 'exported');
      return verifyExport(readFileSync(saved), target);
    } finally {
      tmp.remove();
    }
  } catch (err) {
    await failureShots([ctx], shots);
    throw err;
  } finally {
    await ctx.close();
  }
}

/**
 * The zip: every file listed in SHA256SUMS and the manifest, each hash right, each evidence file
 * matching the hash the index recorded at ingest, the target's crop among them.
 */
function verifyExport(zip: Uint8Array, target: StackEvent): ExportCheck {
  const plate = target.plate?.text ?? '';
  const files = unzipSync(new Uint8Array(zip));
  const names = Object.keys(files);
  expect(names).toEqual(expect.arrayContaining(['events.csv', 'manifest.json', 'SHA256SUMS']));
  const manifest = JSON.parse(strFromU8(files['manifest.json'] ?? new Uint8Array())) as {
    reason: string;
    events: number;
    csv: { path: string; sha256: string };
    files: {
      path: string;
      sha256: string;
      recorded_sha256: string;
      matches_record: boolean;
      event_id: string;
      role: string;
    }[];
  };
  expect(manifest.reason).toBe(REASON);
  expect(manifest.events).toBeGreaterThan(0);
  expect(sha256(files['events.csv'] ?? new Uint8Array())).toBe(manifest.csv.sha256);
  for (const f of manifest.files) {
    const bytes = files[f.path];
    expect(bytes, f.path).toBeDefined();
    expect(sha256(bytes ?? new Uint8Array()), f.path).toBe(f.sha256);
    expect(f.sha256, f.path).toBe(f.recorded_sha256);
    expect(f.matches_record).toBe(true);
  }
  for (const line of strFromU8(files.SHA256SUMS ?? new Uint8Array())
    .trim()
    .split('\n')) {
    const [hash, name] = line.split(/\s+/);
    expect(sha256(files[name ?? ''] ?? new Uint8Array()), name).toBe(hash);
  }
  const crop = manifest.files.find((f) => f.event_id === target.event_id && f.role === 'crop');
  expect(crop?.sha256).toBe(target.evidence?.sha256);
  expect(strFromU8(files['events.csv'] ?? new Uint8Array())).toContain(plate);
  return { events: manifest.events, files: manifest.files.length };
}

// ------------------------------------------------------------------ flow 3

/**
 * Flow 3: an operator sees a live event appear on the wall (and pausing holds new ones). Returns
 * how long after `plateEvent` resolved the card was on screen (meaningful in API mode, where that
 * is the moment of publication; a figure to report, not to assert on a shared machine).
 */
export async function operatorWatchesWall(
  stack: UiStack,
  browser: UiBrowser,
  shots: Shots,
): Promise<{ cardMs: number }> {
  const ctx = await browser.newContext();
  try {
    const page = await signIn(ctx, stack, stack.users.opA);
    await go(page, '/wall');
    await answerReason(page);
    await page.locator('[data-testid=live-state][data-state=open]').waitFor();
    await shots.take(page, 'wall-open');

    const since = Date.now();
    const e = await stack.plateEvent(stack.cameras.a, { sinceMs: since });
    const published = Date.now();
    const card = page.locator(`[data-testid=wall-card][data-event-id="${e.event_id}"]`);
    await card.waitFor({ timeout: 30_000 });
    const cardMs = Date.now() - published;
    await expect.poll(() => card.locator('[data-testid=plate]').textContent()).toBe(e.plate?.text);
    await imgShown(page, `[data-event-id="${e.event_id}"] img`);
    await shots.take(page, 'wall-event');

    // Pause: new events are held, not shown, until resumed.
    await page.locator('[data-testid=pause]').click();
    const shown = await page.locator('[data-testid=wall-card]').count();
    const held = await stack.plateEvent(stack.cameras.a, { sinceMs: Date.now() });
    await page.locator('[data-testid=resume]').filter({ hasNotText: '（0 条' }).waitFor({ timeout: 30_000 });
    expect(await page.locator(`[data-testid=wall-card][data-event-id="${held.event_id}"]`).count()).toBe(0);
    expect(await page.locator('[data-testid=wall-card]').count()).toBe(shown);
    await shots.take(page, 'wall-paused');
    await page.locator('[data-testid=resume]').click();
    await page.locator(`[data-testid=wall-card][data-event-id="${held.event_id}"]`).waitFor();
    return { cardMs };
  } catch (err) {
    await failureShots([ctx], shots);
    throw err;
  } finally {
    await ctx.close();
  }
}

// ------------------------------------------------------------------ flow 4

/**
 * Flow 4: an operator out of scope (district B) cannot see district A's cameras: not on the
 * overview, not in the tree, not in search results, and an A event's page is "not found".
 */
export async function outOfScopeOperator(
  stack: UiStack,
  browser: UiBrowser,
  shots: Shots,
  eventInA: StackEvent,
): Promise<void> {
  const ctx = await browser.newContext();
  try {
    const page = await signIn(ctx, stack, stack.users.opB);
    await go(page, '/overview');
    const rows = page.locator('[data-testid=camera-table] tr[data-camera-id]');
    await rows.first().waitFor();
    const ids = await rows.evaluateAll((trs: { getAttribute(name: string): string | null }[]) =>
      trs.map((tr) => tr.getAttribute('data-camera-id')),
    );
    expect(ids).toContain(stack.cameras.b);
    expect(ids).not.toContain(stack.cameras.a);
    expect(ids).not.toContain(stack.cameras.a2);
    const tree = await page.locator('[data-testid=area-tree]').textContent();
    expect(tree).toContain('河西区');
    expect(tree).not.toContain('青山区');
    await shots.take(page, 'overview-b');

    // Searching A's plate finds nothing at A's cameras.
    await go(page, '/search');
    await page.locator('input[name=plate]').fill(eventInA.plate?.text ?? '');
    await page.getByRole('button', { name: '最近 24 小时' }).click();
    await page.locator('[data-testid=search-submit]').click();
    await answerReason(page);
    await page.locator('[data-testid=result-count]').waitFor();
    expect(await page.locator(`[data-testid=results] tr[data-event-id="${eventInA.event_id}"]`).count()).toBe(
      0,
    );
    await shots.take(page, 'search-b');

    // Opening an A event directly: not found (its existence is not even revealed).
    await go(page, `/events/${eventInA.event_id}`);
    await page.locator('.error[role=alert]').waitFor();
    expect(await page.locator('[data-testid=event-fields]').count()).toBe(0);
    await shots.take(page, 'event-a-refused');

    // And the API says the same.
    const api = await stack.login(stack.users.opB);
    expect((await api.raw(`/cameras/${stack.cameras.a}`)).status).toBe(404);
  } catch (err) {
    await failureShots([ctx], shots);
    throw err;
  } finally {
    await ctx.close();
  }
}

// ------------------------------------------------------------------ flow 5

/**
 * Flow 5: an alert entry is requested by one operator, approved by another, hits, and is
 * acknowledged.
 */
export async function alertEntryLifecycle(
  stack: UiStack,
  browser: UiBrowser,
  shots: Shots,
  plate: string,
): Promise<void> {
  const ctxA = await browser.newContext();
  const ctxB = await browser.newContext();
  try {
    // Requested by op-a.
    const a = await signIn(ctxA, stack, stack.users.opA);
    await go(a, '/entries');
    const form = a.locator('[data-testid=entry-form]');
    await form.locator('input[name=plate]').fill(plate);
    await form.locator('input[name=caseRef]').fill('2025-QS-0815');
    await form.locator('input[name=reason]').fill('盗抢车辆布控，案件 2025-QS-0815');
    await form.locator('input[name=days]').fill('7');
    await form.locator('[data-testid=entry-submit]').click();
    await a.locator('[data-testid=entry-requested]').waitFor();
    const rowA = a.locator(`[data-testid=entry-row][data-plate="${plate}"]`);
    await rowA.waitFor();
    expect(await rowA.getAttribute('data-status')).toBe('pending');
    // The requester is not offered approval of their own entry.
    expect(await rowA.locator('[data-testid=approve]').count()).toBe(0);
    await shots.take(a, 'requested');

    // Approved by op-a2.
    const b = await signIn(ctxB, stack, stack.users.opA2);
    await go(b, '/entries');
    const rowB = b.locator(`[data-testid=entry-row][data-plate="${plate}"]`);
    await rowB.locator('[data-testid=approve]').click();
    await b.locator(`[data-testid=entry-row][data-plate="${plate}"][data-status=active]`).waitFor();
    await shots.take(b, 'approved');
    const approvedMs = Date.now();

    // op-a watches the alert panel; the plate passes a camera of district A.
    await go(a, '/alerts');
    await a.locator('[data-testid=alerts], [data-testid=no-alerts]').first().waitFor();
    const hit = await stack.plateEvent(stack.cameras.a, { plate, sinceMs: approvedMs });
    const api = await stack.login(stack.users.opA);
    interface AlertItem {
      alert_id: number;
      event_id: string;
      plate: string;
      acknowledged_by: string | null;
    }
    const alert = await waitFor(
      async () =>
        (await api.get<{ items: AlertItem[] }>('/alerts', { open: 'true' })).items.find(
          (x) => x.plate === plate,
        ),
      { what: `an alert for ${plate}`, timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(alert.event_id === hit.event_id || stack.mode === 'gateway').toBe(true);
    const row = a.locator(`[data-testid=alert-row][data-alert-id="${alert.alert_id}"]`);
    // The live alert stream brings it; the 15 s re-read is the fallback.
    await row.waitFor({ timeout: 30_000 });
    await row.locator('[data-testid=countdown]').waitFor();
    await shots.take(a, 'alert-raised');
    await row.locator('input').fill('已通知卡口拦截');
    await row.locator('[data-testid=ack]').click();
    await waitFor(
      async () => {
        const items = (await api.get<{ items: AlertItem[] }>('/alerts', {})).items;
        return items.find((x) => x.alert_id === alert.alert_id && x.acknowledged_by !== null);
      },
      { what: 'the acknowledgement to be recorded', timeoutMs: 30_000, intervalMs: 300 },
    );
    await row.waitFor({ state: 'detached' });
    await shots.take(a, 'acknowledged');
  } catch (err) {
    await failureShots([ctxA, ctxB], shots);
    throw err;
  } finally {
    await ctxA.close();
    await ctxB.close();
  }
}

// ------------------------------------------------------------------ everyone

/** Session expiry: when the session is gone the UI says so and signs in again to the same page. */
export async function sessionExpiry(stack: UiStack, browser: UiBrowser, shots: Shots): Promise<void> {
  const ctx = await browser.newContext();
  try {
    const page = await signIn(ctx, stack, stack.users.opA);
    await go(page, '/health');
    await page.locator(`[data-testid=camera-quality] tr[data-camera-id="${stack.cameras.a}"]`).waitFor();
    // Nothing in flight any more: the first request after the cookie goes is the button's.
    await page.waitForLoadState('networkidle');
    // The gateway forgets the session (as after the idle timeout): the cookie is gone.
    await ctx.clearCookies();
    await page.getByRole('button', { name: '刷新' }).click();
    await page.locator('[data-testid=session-expired]').waitFor();
    await shots.take(page, 'expired');
    await page.locator('input[name=username]').fill(stack.users.opA.username);
    await page.locator('input[name=password]').fill(stack.users.opA.password);
    await page.locator('[data-testid=signin-form] button[type=submit]').click();
    await page.locator('[data-testid=collision]').waitFor();
    expect(page.url()).toContain('#/health');
  } catch (err) {
    await failureShots([ctx], shots);
    throw err;
  } finally {
    await ctx.close();
  }
}

/** Statistics and health: charts and tables filled from the API (counts only, no reason asked). */
export async function statisticsAndHealth(stack: UiStack, browser: UiBrowser, shots: Shots): Promise<void> {
  const ctx = await browser.newContext();
  try {
    const page = await signIn(ctx, stack, stack.users.opA);
    await go(page, '/stats');
    const rows = page.locator('[data-testid=stats-table] tbody tr');
    await rows.first().waitFor();
    // Bars drawn for the passes of the last days, by direction.
    await expect.poll(() => page.locator('[data-testid=stats-chart] rect').count()).toBeGreaterThan(0);
    await page.locator('[data-testid=stats-interval]').selectOption({ label: '按天' });
    await expect.poll(() => page.locator('[data-testid=stats-chart] rect').count()).toBeGreaterThan(0);
    expect(await page.locator('[data-testid=reason-dialog]').count()).toBe(0);
    await shots.take(page, 'stats');

    await go(page, '/health');
    await page.locator(`[data-testid=camera-quality] tr[data-camera-id="${stack.cameras.a}"]`).waitFor();
    await page.locator('[data-testid=collision] h3').first().waitFor();
    await shots.take(page, 'health');
  } catch (err) {
    await failureShots([ctx], shots);
    throw err;
  } finally {
    await ctx.close();
  }
}

/** Keyboard only: sign in, open a page from the nav, switch the language. */
export async function keyboardAndLanguage(stack: UiStack, browser: UiBrowser, shots: Shots): Promise<void> {
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    await page.goto(stack.uiUrl);
    await page.locator('input[name=username]').waitFor();
    // Tab order: user name, password, then the submit button; Enter submits.
    await page.keyboard.press('Tab');
    await page.keyboard.type(stack.users.opA.username);
    await page.keyboard.press('Tab');
    await page.keyboard.type(stack.users.opA.password);
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=who]').waitFor();
    // Reach the nav's "search" link with Tab alone and follow it with Enter.
    let reached = false;
    for (let i = 0; i < 20 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = (await page.evaluate('document.activeElement?.getAttribute("data-nav")')) === 'search';
    }
    expect(reached).toBe(true);
    await page.keyboard.press('Enter');
    await page.locator('[data-testid=search-form]').waitFor();
    // The focused element is visibly outlined (keyboard users see where they are).
    await page.keyboard.press('Tab');
    const outline = await page.evaluate(
      '(() => { const el = document.activeElement; return el === null ? "none" : getComputedStyle(el).outlineStyle; })()',
    );
    expect(outline).not.toBe('none');

    // English, and back: every label comes from the translation files.
    await page.locator('[data-testid=language]').selectOption('en');
    await page.getByRole('heading', { name: 'Search', exact: true }).waitFor();
    expect(await page.locator('nav').textContent()).toContain('Live event wall');
    await shots.take(page, 'english');
    await page.locator('[data-testid=language]').selectOption('zh-CN');
    await page.getByRole('heading', { name: '检索', exact: true }).waitFor();
  } catch (err) {
    await failureShots([ctx], shots);
    throw err;
  } finally {
    await ctx.close();
  }
}

/** The overview on an offline tile server: Leaflet draws tiles and the cameras over them. */
export async function tiledOverview(
  stack: UiStack,
  browser: UiBrowser,
  shots: Shots,
  tileUrl: string,
): Promise<void> {
  const ctx = await browser.newContext();
  try {
    // The gateway's UI config names the tile server (registerUi's tileUrl); here it is pointed at
    // the harness's stand-in tile server for this browser only.
    await ctx.route('**/ui/config.json', (route) =>
      route.fulfill({ json: { tile_url: tileUrl, tile_attribution: '测试瓦片', tile_max_zoom: 18 } }),
    );
    const page = await signIn(ctx, stack, stack.users.opA);
    await go(page, '/overview');
    const map = page.locator('[data-testid=overview-map][data-kind=tiles]');
    await map.waitFor();
    await expect
      .poll(() => map.locator('img.leaflet-tile-loaded').count(), { timeout: 30_000 })
      .toBeGreaterThan(0);
    // One marker per camera with a position in op-a's area.
    const markers = map.locator('path.leaflet-interactive');
    await expect.poll(() => markers.count()).toBeGreaterThanOrEqual(2);
    // Really drawn: the pixels where each marker is have the "online" green.
    for (const m of await markers.all()) {
      const b = await m.boundingBox();
      if (b === null) throw new Error('a marker has no box');
      const png = await page.screenshot({ clip: b });
      const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
      let green = 0;
      for (let i = 0; i < data.length; i += info.channels) {
        const [r, g, bl] = [data[i] ?? 0, data[i + 1] ?? 0, data[i + 2] ?? 0];
        if (Math.abs(r - 0x4f) < 40 && Math.abs(g - 0xd1) < 40 && Math.abs(bl - 0x8b) < 40) green++;
      }
      expect(green, 'green pixels of an online camera marker').toBeGreaterThan(20);
    }
    await shots.take(page, 'tiles');
  } catch (err) {
    await failureShots([ctx], shots);
    throw err;
  } finally {
    await ctx.close();
  }
}

/** The auditor: the audit trail (every search above is in it, with its reason) and its verification. */
export async function auditorTrail(stack: UiStack, browser: UiBrowser, shots: Shots): Promise<void> {
  const ctx = await browser.newContext();
  try {
    const page = await signIn(ctx, stack, stack.users.auditor);
    // The auditor lands on the trail and has no other page.
    await page.locator('[data-testid=audit-table] tbody tr').first().waitFor();
    expect(page.url()).toContain('#/audit');
    expect(await page.locator('nav a[data-nav]').count()).toBe(1);
    expect(await page.locator('[data-testid=audit-table]').textContent()).toContain('event.search');
    await page.getByRole('button', { name: '校验哈希链' }).click();
    await page.locator('.ok-box').filter({ hasText: '哈希链完整' }).waitFor();
    await shots.take(page, 'audit');
  } catch (err) {
    await failureShots([ctx], shots);
    throw err;
  } finally {
    await ctx.close();
  }
}
