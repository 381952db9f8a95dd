/**
 * `--admin-token-file`: the admin API's bearer token, chosen by the operator (e.g. shared with a
 * deploy pipeline). A file others can read, or replace, would hand the API to them, so such a
 * file is refused the way ssh refuses a private key with group or other permission bits.
 */
import { open } from 'node:fs/promises';
import { ErrorCodes, MoltError } from '../errors/errors.js';

/** Shorter than this is guessable; longer is not a token but a mistake (a wrong file). */
export const TOKEN_MIN_CHARS = 16;
export const TOKEN_MAX_BYTES = 4096;

function invalid(file: string, why: string): MoltError {
  return new MoltError(ErrorCodes.OPTIONS_INVALID, `--admin-token-file ${file}: ${why}`, {
    details: { option: 'adminTokenFile', file },
  });
}

export async function readTokenFile(file: string): Promise<string> {
  let text: string;
  // One descriptor for the check and the read, so the file checked is the file read.
  const handle = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    throw invalid(file, `cannot be read (${err.code ?? err.message})`);
  });
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw invalid(file, 'is not a regular file');
    if ((stats.mode & 0o077) !== 0) {
      throw invalid(
        file,
        `its mode ${(stats.mode & 0o777).toString(8)} lets others read or replace it (chmod 600)`,
      );
    }
    if (stats.size > TOKEN_MAX_BYTES) throw invalid(file, `is over ${TOKEN_MAX_BYTES} bytes`);
    text = (await handle.readFile({ encoding: 'utf8' })).trim();
  } finally {
    await handle.close();
  }
  // A header value carries visible ASCII only; anything else could never be sent back.
  if (!/^[\x21-\x7e]+$/.test(text)) {
    throw invalid(file, 'must hold one token of visible ASCII characters, no spaces');
  }
  if (text.length < TOKEN_MIN_CHARS) {
    throw invalid(file, `the token must have at least ${TOKEN_MIN_CHARS} characters`);
  }
  return text;
}
