/**
 * The admin event stream, live. `EventSource` in browsers cannot send an Authorization header;
 * the `eventsource` package is the same WHATWG client built on `fetch`, so the token travels in a
 * header, and it reconnects after a dropped connection sending `Last-Event-ID` by itself. An
 * answer other than 200 ends it for good: a refused token stops (`onUnauthorized`), a 404 (a host
 * without a stream) leaves the page to its poll; anything else (a restarting server's 503) is
 * retried here after `retryMs`, from the last event seen.
 */
import { EventSource } from 'eventsource';
import { STREAM_EVENTS } from './wire.js';

export type StreamState = 'connecting' | 'live' | 'down';

export interface StreamHandlers {
  onEvent(name: string, data: unknown): void;
  onState(state: StreamState, detail?: string): void;
  onUnauthorized(): void;
}

export interface Stream {
  close(): void;
}

/** Largest `data:` the page parses: a bigger one is dropped (and shown as a gap would be). */
const MAX_DATA = 1 << 20;

export function openStream(token: string, handlers: StreamHandlers, retryMs = 2000): Stream {
  let lastId = '';
  let source: EventSource | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const connect = () => {
    handlers.onState('connecting');
    const url =
      lastId === '' ? '/v1/events' : `/v1/events?lastEventId=${encodeURIComponent(lastId)}`;
    const es = new EventSource(url, {
      fetch: (input, init) =>
        fetch(input, { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } }),
    });
    source = es;
    es.addEventListener('open', () => handlers.onState('live'));
    es.addEventListener('error', (e) => {
      const code = (e as { code?: number }).code;
      if (es.readyState !== es.CLOSED) {
        handlers.onState('connecting', 'connection lost, reconnecting');
        return;
      }
      if (code === 401 || code === 403) {
        handlers.onState('down', 'token refused');
        handlers.onUnauthorized();
        return;
      }
      if (code === 404) {
        // A host started without an event stream: polling still keeps the table current.
        handlers.onState('down', 'this host serves no event stream; the table still polls');
        return;
      }
      handlers.onState('down', code === undefined ? 'stream closed' : `stream answered ${code}`);
      if (!closed) timer = setTimeout(connect, retryMs);
    });
    for (const name of STREAM_EVENTS) {
      es.addEventListener(name, (e: MessageEvent) => {
        if (e.lastEventId !== '') lastId = e.lastEventId;
        const raw = typeof e.data === 'string' ? e.data : '';
        let data: unknown;
        try {
          data = raw.length > MAX_DATA ? undefined : JSON.parse(raw);
        } catch {
          data = undefined;
        }
        handlers.onEvent(name, data);
      });
    }
  };

  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      source?.close();
    },
  };
}
