/**
 * The web UI in Chromium against the real REST API over real stores (influxd index, evidence
 * directory, SQLite registry/auth/audit/alerts, live bus), seeded by the harness — no MQTT, edge
 * or simulated site (see harness.ts, mode `api`; the acceptance flows on the whole system are in
 * flows.test.ts). Runs the same flows, so the pages are checked even where the gateway program
 * does not serve the UI yet. The installer flow's edge reports (status, first detection) are
 * written by the harness here — the one place a stand-in is used, and said so in the test name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserMissing, screenshots, startBrowser, type Shots, type UiBrowser } from './browser.ts';
import {
  alertEntryLifecycle,
  auditorTrail,
  installerRegistersCamera,
  keyboardAndLanguage,
  operatorSearchesAndExports,
  operatorWatchesWall,
  outOfScopeOperator,
  sessionExpiry,
  statisticsAndHealth,
  tiledOverview,
} from './flows.ts';
import { HISTORY_PLATE, startUiStack, type StackEvent, type UiStack } from './harness.ts';

const noBrowser = browserMissing();

describe.skipIf(noBrowser !== undefined)(
  `UI pages on the REST API (seeded stores)${noBrowser === undefined ? '' : ` — skipped: ${noBrowser}`}`,
  () => {
    let stack: UiStack | undefined;
    let browser: UiBrowser | undefined;
    let target: StackEvent | undefined;

    /** Run `fn` with the started stack, browser and a screenshot set named `flow`. */
    async function withStack<T>(
      flow: string,
      fn: (s: UiStack, b: UiBrowser, shots: Shots, target: StackEvent) => Promise<T>,
    ): Promise<T> {
      if (stack === undefined || browser === undefined || target === undefined)
        throw new Error('the stack did not start');
      const shots = screenshots(flow);
      try {
        return await fn(stack, browser, shots, target);
      } finally {
        shots.cleanup();
      }
    }

    beforeAll(async () => {
      stack = await startUiStack({ mode: 'api' });
      browser = await startBrowser();
      const api = await stack.login(stack.users.opA);
      const page = await api.get<{ items: StackEvent[] }>('/events', {
        from_ms: Date.now() - 86_400_000,
        to_ms: Date.now() + 60_000,
        plate: HISTORY_PLATE,
        reason: 'UI test: pick the seeded event',
      });
      const a2 = stack.cameras.a2;
      target = page.items.find((e) => e.camera_id === a2);
      if (target === undefined) throw new Error('the seeded history is not searchable');
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await stack?.stop();
    }, 60_000);

    it('installer registers a discovered camera (edge reports written by the harness)', async () => {
      expect(await withStack('pages-installer', installerRegistersCamera)).toBe('QS-NEW-003');
    }, 180_000);

    it('operator searches a plate with a reason, opens the event and its linked context, exports a verified zip', async () => {
      const r = await withStack('pages-search', (s, b, shots, t) =>
        operatorSearchesAndExports(s, b, shots, t, true),
      );
      // The vehicle passed both district-A cameras: two events, crop + context each.
      expect(r).toEqual({ events: 2, files: 4 });
    }, 180_000);

    it('operator sees a live event appear on the wall, and pausing holds new ones', async () => {
      const { cardMs } = await withStack('pages-wall', operatorWatchesWall);
      console.log(`live wall: the event's card was on screen ${cardMs} ms after its publication`);
    }, 180_000);

    it('operator of district B cannot see district A', async () => {
      await withStack('pages-scope', (s, b, shots, t) => outOfScopeOperator(s, b, shots, t));
    }, 180_000);

    it('alert entry requested by one operator, approved by another, hits, is acknowledged', async () => {
      await withStack('pages-alerts', (s, b, shots) => alertEntryLifecycle(s, b, shots, '鄂A6H6H6'));
    }, 180_000);

    it("statistics and health pages show the API's figures", async () => {
      await withStack('pages-stats-health', statisticsAndHealth);
    }, 120_000);

    it('overview on an offline tile server (Leaflet, loaded on demand)', async () => {
      await withStack('pages-tiles', (s, b, shots) => tiledOverview(s, b, shots, '/test-tiles/{z}/{x}/{y}'));
    }, 120_000);

    it('works with the keyboard alone and in English', async () => {
      await withStack('pages-keyboard', keyboardAndLanguage);
    }, 120_000);

    it('auditor reads the trail (searches with their reasons) and verifies the chain', async () => {
      await withStack('pages-audit', auditorTrail);
    }, 120_000);

    it('an ended session shows sign-in with a notice and returns to the page', async () => {
      await withStack('pages-session', sessionExpiry);
    }, 120_000);
  },
);
