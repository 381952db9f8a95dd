/**
 * JSON for answers that carry a plugin's result to a door that speaks JSON. A result is
 * whatever the plugin returned (structured clone allows BigInts and cycles): a BigInt is sent as
 * its decimal string, and anything JSON cannot say is a typed error, never a throw mid-response.
 */
import { ErrorCodes, MoltError } from '../errors/errors.js';

const bigintAsString = (_key: string, value: unknown): unknown =>
  typeof value === 'bigint' ? value.toString() : value;

export function toJson(value: unknown, space?: number): string {
  try {
    return JSON.stringify(value, bigintAsString, space) ?? 'null';
  } catch (err) {
    throw new MoltError(
      ErrorCodes.RESULT_UNSERIALIZABLE,
      `the result cannot be sent as JSON: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
