/** Where a running host's admin API is: `<data>/control.json`, readable by its owner only. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, MoltError } from '../errors/errors.js';

export interface ControlEndpoint {
  url: string;
  token: string;
  pid: number;
}

export const endpointFile = (dataDir: string): string => join(dataDir, 'control.json');

export async function readEndpoint(dataDir: string): Promise<ControlEndpoint> {
  try {
    return JSON.parse(await readFile(endpointFile(dataDir), 'utf8')) as ControlEndpoint;
  } catch (err) {
    throw new MoltError(
      ErrorCodes.CONTROL_UNREACHABLE,
      `no running molt host found for data folder ${dataDir}`,
      {
        cause: err,
      },
    );
  }
}
