/**
 * An option object a caller hands over (an admin request's body, a CLI flag's parse, an
 * embedder's call), checked key by key. Every refusal is OPTIONS_INVALID naming the option in
 * full (`canary.weight`) and, when it is small, the value given; nothing else is ever thrown.
 */
import { ErrorCodes, MoltError } from '../errors/errors.js';

/** A value worth echoing in an error's details: small primitives only, never a caller's blob. */
function shown(value: unknown): unknown {
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'string') return value.length <= 100 ? value : `${value.slice(0, 99)}…`;
  return value === null ? null : typeof value;
}

export class OptionsReader {
  readonly #name: string;
  readonly #given: Record<string, unknown>;

  /** `value` must be an object whose keys are all among `keys`; `example` shows one. */
  constructor(name: string, value: unknown, keys: readonly string[], example: string) {
    this.#name = name;
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new MoltError(
        ErrorCodes.OPTIONS_INVALID,
        `${name} must be an object such as ${example}`,
        {
          details: { option: name, value: shown(value) },
        },
      );
    this.#given = value as Record<string, unknown>;
    for (const key of Object.keys(this.#given))
      if (!keys.includes(key))
        throw this.#refuse(
          key,
          `${name}.${key.slice(0, 64)} is not an option; there are ${keys.join(', ')}`,
        );
  }

  #refuse(key: string, message: string): MoltError {
    return new MoltError(ErrorCodes.OPTIONS_INVALID, message, {
      details: { option: `${this.#name}.${key.slice(0, 64)}`, value: shown(this.#given[key]) },
    });
  }

  /** The refusal of `key`'s value: `<name>.<key> must be <must>`. */
  invalid(key: string, must: string): MoltError {
    return this.#refuse(key, `${this.#name}.${key} must be ${must}`);
  }

  /** For an option without a default: `<name>.<key> is required: <what>`. */
  missing(key: string, what: string): never {
    throw this.#refuse(key, `${this.#name}.${key} is required: ${what}`);
  }

  /** A finite number for which `ok` holds, or undefined when not given. */
  number(key: string, ok: (n: number) => boolean, must: string): number | undefined {
    const v = this.#given[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw this.invalid(key, must);
    return v;
  }

  /** A whole number from `min` to `max`, or undefined when not given. */
  integer(key: string, min: number, max: number): number | undefined {
    return this.number(
      key,
      (n) => Number.isSafeInteger(n) && n >= min && n <= max,
      `a whole number from ${min} to ${max}`,
    );
  }

  /** One of `values`, or undefined when not given. */
  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    const v = this.#given[key];
    if (v === undefined) return undefined;
    if (!values.includes(v as T))
      throw this.invalid(key, `one of ${values.map((x) => `'${x}'`).join(', ')}`);
    return v as T;
  }
}
