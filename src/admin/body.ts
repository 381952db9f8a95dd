/**
 * Request bodies, bounded while they are read: JSON into memory, an upload onto disk. Past its
 * bound a body is refused before another byte is kept, and the request stream is left open (not
 * destroyed) so the 413 can still be answered on it.
 */
import { createWriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { ErrorCodes, isMoltError, MoltError } from '../errors/errors.js';

function tooLarge(what: string, max: number): MoltError {
  return new MoltError(ErrorCodes.REQUEST_TOO_LARGE, `${what} is over ${max} bytes`, {
    details: { max },
  });
}

/** Refuses at once a body whose declared length is over `max`. */
function checkDeclared(req: IncomingMessage, what: string, max: number): void {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) throw tooLarge(what, max);
}

/** The body's chunks, failing as soon as more than `max` bytes have come. */
async function* bounded(req: IncomingMessage, what: string, max: number): AsyncGenerator<Buffer> {
  let size = 0;
  // A return or a throw must not destroy the request: its socket still carries the answer.
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw tooLarge(what, max);
    yield chunk;
  }
}

/** A client that went away mid-body is the client's error; a disk that failed is ours. */
function cutShort(err: unknown, req: IncomingMessage): unknown {
  if (isMoltError(err) || !req.destroyed) return err;
  return new MoltError(ErrorCodes.INVALID_REQUEST, 'the request body ended early', { cause: err });
}

/** Reads a JSON body of at most `max` bytes; an empty body is `undefined`. */
export async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  checkDeclared(req, 'the request body', max);
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of bounded(req, 'the request body', max)) chunks.push(chunk);
  } catch (err) {
    throw cutShort(err, req);
  }
  if (chunks.length === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new MoltError(ErrorCodes.INVALID_REQUEST, 'the request body is not JSON', {
      cause: err,
    });
  }
}

/**
 * Writes the body to `file`, created new and readable by its owner only. On failure the caller
 * removes the file (it may hold part of the body).
 */
export async function receiveFile(
  req: IncomingMessage,
  file: string,
  max: number,
): Promise<number> {
  checkDeclared(req, 'the artifact', max);
  let size = 0;
  const counted = async function* (): AsyncGenerator<Buffer> {
    for await (const chunk of bounded(req, 'the artifact', max)) {
      size += chunk.length;
      yield chunk;
    }
  };
  try {
    await pipeline(counted, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  } catch (err) {
    throw cutShort(err, req);
  }
  if (size === 0) throw new MoltError(ErrorCodes.INVALID_REQUEST, 'the artifact body is empty');
  return size;
}
