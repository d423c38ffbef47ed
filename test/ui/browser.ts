/**
 * Debian's Chromium for the UI tests, driven by playwright-core. Chromium is started by the
 * bench's spawnManaged (its own process group, killed by the reaper even if the test process is
 * killed) with a DevTools port on loopback, and playwright connects over CDP. Screenshots go to
 * a temp dir, or to test/ui/screenshots/ when SHARPEYES_UI_SCREENSHOTS=1.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { makeTempDir, spawnManaged, type ManagedChild, type TempDir } from '../bench/lifetime.ts';
import { freePort, waitFor } from '../bench/wait.ts';

/** Where Debian's Chromium is. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserMissing(): string | undefined {
  return existsSync(CHROMIUM_PATH)
    ? undefined
    : `Chromium is not installed at ${CHROMIUM_PATH} (apt-get install chromium)`;
}

/** A running Chromium. */
export interface UiBrowser {
  /** A fresh context (own cookies: one user each) with downloads accepted. */
  newContext(): Promise<BrowserContext>;
  close(): Promise<void>;
}

/** Start Chromium (headless, loopback only) and connect to it. */
export async function startBrowser(): Promise<UiBrowser> {
  const profile = makeTempDir('chromium');
  const port = await freePort();
  let child: ManagedChild | undefined;
  let browser: Browser | undefined;
  try {
    child = spawnManaged(
      CHROMIUM_PATH,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-default-apps',
        '--disable-extensions',
        '--no-first-run',
        '--no-default-browser-check',
        '--mute-audio',
        '--lang=zh-CN',
        `--user-data-dir=${profile.path}`,
        '--remote-debugging-address=127.0.0.1',
        `--remote-debugging-port=${port}`,
        'about:blank',
      ],
      { name: 'chromium', logFile: join(profile.path, 'chromium.log') },
    );
    const running = child;
    const ws = await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/json/version`);
        const body = (await res.json()) as { webSocketDebuggerUrl?: string };
        return body.webSocketDebuggerUrl;
      },
      {
        what: 'Chromium DevTools endpoint',
        timeoutMs: 60_000,
        intervalMs: 100,
        abortIf: () =>
          running.running() ? undefined : `chromium exited; see ${join(profile.path, 'chromium.log')}`,
      },
    );
    browser = await chromium.connectOverCDP(ws, { timeout: 60_000 });
  } catch (err) {
    await child?.stop();
    profile.remove();
    throw err;
  }
  const b = browser;
  const c = child;
  return {
    async newContext() {
      const ctx = await b.newContext({
        acceptDownloads: true,
        locale: 'zh-CN',
        timezoneId: 'Asia/Shanghai',
        viewport: { width: 1400, height: 900 },
      });
      ctx.setDefaultTimeout(30_000);
      return ctx;
    },
    async close() {
      try {
        await b.close();
      } finally {
        await c.stop();
        profile.remove();
      }
    },
  };
}

/** Screenshots of one flow. */
export interface Shots {
  readonly dir: string;
  /** Saved file names, in order. */
  readonly saved: string[];
  take(page: Page, name: string): Promise<void>;
  /** Remove the temp dir (no-op when saving into the repository). */
  cleanup(): void;
}

/** Screenshots of `flow`: under test/ui/screenshots/ with SHARPEYES_UI_SCREENSHOTS=1, else a temp dir. */
export function screenshots(flow: string): Shots {
  const keep = process.env.SHARPEYES_UI_SCREENSHOTS === '1';
  let temp: TempDir | undefined;
  let dir: string;
  if (keep) {
    dir = join(import.meta.dirname, 'screenshots');
    mkdirSync(dir, { recursive: true });
  } else {
    temp = makeTempDir('ui-shots');
    dir = temp.path;
  }
  const saved: string[] = [];
  return {
    dir,
    saved,
    async take(page, name) {
      const file = `${flow}-${String(saved.length + 1).padStart(2, '0')}-${name}.png`;
      await page.screenshot({ path: join(dir, file), fullPage: true });
      saved.push(file);
    },
    cleanup() {
      temp?.remove();
    },
  };
}
