/**
 * The live streams (SSE) as hooks. The browser's EventSource reconnects by itself and sends the
 * last message id (the stream's cursor) as Last-Event-ID, so the gateway resumes where it left
 * off. A stream the gateway ends with an `event: error` message (a refused reason, too many
 * streams) is closed and reported, not retried in a loop; a stream refused outright (401, 403)
 * closes, and a check of the session then shows sign-in if it has ended.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { mapEvent, whoAmI } from '../api/client.ts';
import { ApiError } from '../api/http.ts';
import { field, str } from '../api/read.ts';
import type { EventView } from '../api/types.ts';

/** Connection state of a stream. */
export type LiveState = 'connecting' | 'open' | 'retrying' | 'closed';

/** What a live hook reports. */
export interface LiveStatus {
  state: LiveState;
  /** Why the gateway ended the stream, when it said. */
  error: ApiError | null;
}

/** Parse one `event` message's data into an event (the event's JSON, plus `replay`). */
export function parseLiveEvent(data: string): EventView | undefined {
  let body: unknown;
  try {
    body = JSON.parse(data);
  } catch {
    return undefined;
  }
  return field(body, 'event_id') !== undefined ? mapEvent(body) : undefined;
}

function streamError(data: string): ApiError {
  try {
    const body = JSON.parse(data) as unknown;
    const e = field(body, 'error') ?? body;
    return new ApiError(0, str(e, 'code') || 'STREAM_ERROR', str(e, 'message') || data);
  } catch {
    return new ApiError(0, 'STREAM_ERROR', data);
  }
}

/**
 * Subscribe to the SSE stream at `url` (null = not connected); `onMessage(name, data)` is called
 * for each message of the named kinds. The newest `onMessage` is used without reconnecting.
 */
export function useSse(
  url: string | null,
  names: readonly string[],
  onMessage: (name: string, data: string) => void,
): LiveStatus {
  const [status, setStatus] = useState<LiveStatus>({ state: 'connecting', error: null });
  const handler = useRef(onMessage);
  handler.current = onMessage;
  const key = names.join(',');
  useEffect(() => {
    if (url === null) {
      setStatus({ state: 'closed', error: null });
      return undefined;
    }
    setStatus({ state: 'connecting', error: null });
    const es = new EventSource(url, { withCredentials: true });
    for (const name of names) {
      es.addEventListener(name, ((m: MessageEvent<string>) => {
        handler.current(name, m.data);
      }) as EventListener);
    }
    es.onopen = () => {
      setStatus({ state: 'open', error: null });
    };
    es.onerror = (ev: Event) => {
      // `event: error` from the gateway arrives here too, as a MessageEvent with data.
      if (ev instanceof MessageEvent && typeof ev.data === 'string' && ev.data !== '') {
        es.close();
        setStatus({ state: 'closed', error: streamError(ev.data) });
        return;
      }
      if (es.readyState === EventSource.CLOSED) {
        setStatus({ state: 'closed', error: null });
        // A 401 closes the stream for good: find out whether the session ended (sign-in shows).
        whoAmI().catch(() => undefined);
      } else {
        setStatus({ state: 'retrying', error: null });
      }
    };
    return () => {
      es.close();
    };
  }, [url, key]);
  return status;
}

/** The live event stream: `onEvent` for each event (checkpoints are skipped). */
export function useLiveEvents(url: string | null, onEvent: (e: EventView) => void): LiveStatus {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  return useSse(url, ['event'], (_name, data) => {
    const e = parseLiveEvent(data);
    if (e !== undefined) handler.current(e);
  });
}
