/** The CLI's side of the control endpoint. */
import { ErrorCodes, MoltError } from '../errors/errors.js';
import { readEndpoint } from './endpoint.js';

export async function control<T>(
  dataDir: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<T> {
  const endpoint = await readEndpoint(dataDir);
  let res: Response;
  try {
    res = await fetch(`${endpoint.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${endpoint.token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(120_000),
    });
  } catch (err) {
    throw new MoltError(
      ErrorCodes.CONTROL_UNREACHABLE,
      `the molt host at ${endpoint.url} (pid ${endpoint.pid}) does not answer`,
      { cause: err },
    );
  }
  const answer = (await res.json()) as T & { error?: { code: string; message: string } };
  if (!res.ok) {
    const e = answer.error ?? { code: 'INTERNAL', message: `HTTP ${res.status}` };
    throw new MoltError(e.code as never, e.message);
  }
  return answer;
}
