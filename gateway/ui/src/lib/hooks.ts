/** Small hooks shared by the pages. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/** The state of an async load. */
export interface AsyncState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Run the loader again (a plain function: safe to pass as a callback). */
  reload: () => void;
}

/**
 * Run `load` when `deps` change (and on `reload()`), keeping the last data while reloading.
 * A load started earlier than the latest is ignored when it finishes.
 */
export function useAsync<T>(
  load: (signal: AbortSignal) => Promise<T>,
  deps: readonly unknown[],
): AsyncState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const ctl = new AbortController();
    setLoading(true);
    load(ctl.signal).then(
      (v) => {
        if (ctl.signal.aborted) return;
        setData(v);
        setError(undefined);
        setLoading(false);
      },
      (err: unknown) => {
        if (ctl.signal.aborted) return;
        setError(err);
        setLoading(false);
      },
    );
    return () => {
      ctl.abort();
    };
  }, [...deps, tick]);
  const reload = useCallback(() => {
    setTick((n) => n + 1);
  }, []);
  return { data, error, loading, reload };
}

/** The current time, updated every `periodMs`. */
export function useNow(periodMs = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => {
      setNow(Date.now());
    }, periodMs);
    return () => {
      clearInterval(id);
    };
  }, [periodMs]);
  return now;
}

/** Call `fn` every `periodMs` while mounted (the latest `fn`, no restart on re-render). */
export function useInterval(fn: () => void, periodMs: number | null): void {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (periodMs === null) return undefined;
    const id = setInterval(() => {
      saved.current();
    }, periodMs);
    return () => {
      clearInterval(id);
    };
  }, [periodMs]);
}
