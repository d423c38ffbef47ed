/**
 * An image fetched through the API (evidence crops, context frames, live snapshots): the request
 * carries the session cookie and the stated reason, and the bytes become an object URL. With
 * `refreshMs` it fetches again that long after each answer (never two requests at once), which is
 * how a live snapshot refreshes every second.
 */
import { useEffect, useState } from 'preact/hooks';
import { requestBytes } from '../api/http.ts';
import { t } from '../i18n/index.ts';

/** Props of {@link ApiImage}. */
export interface ApiImageProps {
  /** API path (under /api/v1). */
  path: string;
  alt: string;
  reason?: string | undefined;
  refreshMs?: number;
  class?: string;
  /** Called with the bytes of each image loaded (exports, hash checks). */
  onLoad?: (bytes: Uint8Array, atMs: number) => void;
  testId?: string;
}

/** See the module comment. */
export function ApiImage(props: ApiImageProps) {
  const [url, setUrl] = useState<string | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  const [loadedAt, setLoadedAt] = useState<number | null>(null);
  const { path, reason, refreshMs, onLoad } = props;

  useEffect(() => {
    const ctl = new AbortController();
    // A function, not the property: the signal can abort while a fetch is awaited.
    const stopped = (): boolean => ctl.signal.aborted;
    let current: string | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async (): Promise<void> => {
      try {
        const { bytes, type } = await requestBytes(path, {
          ...(reason !== undefined && { query: { reason }, reason }),
          signal: ctl.signal,
        });
        if (stopped()) return;
        const next = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
        if (current !== null) URL.revokeObjectURL(current);
        current = next;
        const at = Date.now();
        setUrl(next);
        setLoadedAt(at);
        setFailed(null);
        onLoad?.(bytes, at);
      } catch (err) {
        if (stopped()) return;
        setFailed(err instanceof Error ? err.message : String(err));
      }
      if (refreshMs !== undefined && !stopped()) {
        timer = setTimeout(() => {
          void load();
        }, refreshMs);
      }
    };
    void load();
    return () => {
      ctl.abort();
      if (timer !== undefined) clearTimeout(timer);
      if (current !== null) URL.revokeObjectURL(current);
    };
    // onLoad is a callback prop: re-fetching on its identity would loop.
  }, [path, reason, refreshMs]);

  if (url === null) {
    return (
      <div
        class={`img-missing ${props.class ?? ''}`}
        role="img"
        aria-label={props.alt}
        data-testid={props.testId}
      >
        {failed === null ? t('common.loading') : t('image.unavailable', { why: failed })}
      </div>
    );
  }
  return (
    <img
      src={url}
      alt={props.alt}
      class={props.class}
      data-testid={props.testId}
      data-loaded-at={loadedAt ?? undefined}
      title={failed === null ? undefined : t('image.stale', { why: failed })}
    />
  );
}
