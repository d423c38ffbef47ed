/**
 * Translations: every user-visible string lives in zh-CN.ts (the default and the reference
 * key set) or en.ts. `t(key, params)` replaces `{name}` placeholders. The language is kept
 * in localStorage; changing it re-renders the app from the top (app.tsx).
 */
import { en } from './en.ts';
import { zhCN, type MessageKey } from './zh-CN.ts';

export type { MessageKey };

/** A supported language. */
export type Locale = 'zh-CN' | 'en';

/** Every supported language, default first. */
export const LOCALES: readonly Locale[] = ['zh-CN', 'en'];

const CATALOGUES: Record<Locale, Record<MessageKey, string>> = { 'zh-CN': zhCN, en };
const STORAGE_KEY = 'sharpeyes.locale';

function initialLocale(): Locale {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved === 'en' || saved === 'zh-CN') return saved;
  } catch {
    // Storage can be refused (privacy settings); the default language then applies.
    return 'zh-CN';
  }
  return 'zh-CN';
}

let current: Locale = initialLocale();

/** The language in force. */
export function locale(): Locale {
  return current;
}

/** Switch language (persisted). The caller re-renders. */
export function setLocale(next: Locale): void {
  current = next;
  document.documentElement.lang = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // Not persisted when storage is refused; the switch still applies to this page.
    return;
  }
}

/** The message `key` in the current language, `{name}` placeholders filled from `params`. */
export function t(key: MessageKey, params: Record<string, string | number> = {}): string {
  const text = CATALOGUES[current][key];
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const v = params[name];
    return v === undefined ? whole : String(v);
  });
}

/** A date and time in the current language (local time zone), seconds included. */
export function formatTime(ms: number): string {
  return new Date(ms).toLocaleString(current, {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
}

/** A number in the current language. */
export function formatNumber(n: number, digits = 0): string {
  return n.toLocaleString(current, { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** A share 0..1 as a percentage, or a dash when unknown. */
export function formatPercent(share: number | null | undefined): string {
  return share === null || share === undefined ? '—' : `${formatNumber(share * 100, 0)}%`;
}

/** A duration in ms as `1h 02m`, `3m 05s` or `12s`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}
