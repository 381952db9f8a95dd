/** The CLI's side of the admin API: the host found through its data folder's `control.json`. */
import { ErrorCodes, isErrorCode, MoltError } from '../errors/errors.js';
import { readEndpoint } from './endpoint.js';

export async function admin<T>(
  dataDir: string,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  /** How long to wait for the answer (a canary reload waits for its outcome). */
  timeoutMs = 120_000,
  /** Bytes to send as they are (an upload) instead of `body` as JSON, and headers of its own. */
  raw?: { bytes: Uint8Array; contentType: string; headers?: Record<string, string> },
): Promise<T> {
  const endpoint = await readEndpoint(dataDir);
  let res: Response;
  try {
    res = await fetch(`${endpoint.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${endpoint.token}`,
        'content-type': raw?.contentType ?? 'application/json',
        ...raw?.headers,
      },
      ...(raw !== undefined
        ? { body: raw.bytes }
        : body === undefined
          ? {}
          : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new MoltError(
      ErrorCodes.CONTROL_UNREACHABLE,
      `the molt host at ${endpoint.url} (pid ${endpoint.pid}) does not answer`,
      { cause: err },
    );
  }
  let answer: T & { error?: { code?: unknown; message?: unknown } };
  try {
    answer = (await res.json()) as typeof answer;
  } catch (err) {
    throw new MoltError(
      ErrorCodes.INTERNAL,
      `the molt host at ${endpoint.url} answered HTTP ${res.status} without JSON`,
      { cause: err },
    );
  }
  if (!res.ok) {
    const e = answer.error;
    throw new MoltError(
      isErrorCode(e?.code) ? e.code : ErrorCodes.INTERNAL,
      typeof e?.message === 'string' ? e.message : `HTTP ${res.status}`,
    );
  }
  return answer;
}
