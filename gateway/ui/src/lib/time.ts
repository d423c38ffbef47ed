/** `<input type="datetime-local">` values ↔ epoch ms (local time). */

/** Epoch ms → `YYYY-MM-DDTHH:MM` in local time. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** `YYYY-MM-DDTHH:MM` (local) → epoch ms, or NaN. */
export function fromLocalInput(v: string): number {
  return v === '' ? Number.NaN : new Date(v).getTime();
}

/** The browser's IANA time zone (for day-aligned statistics). */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}
