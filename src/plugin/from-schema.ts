/**
 * The TypeScript type a JSON Schema describes, for the keywords a plugin's state schema uses:
 * `type` (one or a list), `properties` + `required`, `additionalProperties`, `items`, `enum`,
 * `const`, `anyOf`/`oneOf`. What it cannot express becomes `unknown`, never a wrong type. Pass
 * the schema `as const` (or inline in `definePlugin`) so its literals are kept.
 */

type Simple = {
  string: string;
  number: number;
  integer: number;
  boolean: boolean;
  null: null;
};

type Props<S> = S extends { readonly properties: infer P }
  ? S extends { readonly required: readonly (infer R)[] }
    ? { -readonly [K in keyof P as K extends R ? K : never]: FromSchema<P[K]> } & {
        -readonly [K in keyof P as K extends R ? never : K]?: FromSchema<P[K]>;
      }
    : { -readonly [K in keyof P]?: FromSchema<P[K]> }
  : unknown;

type Extra<S> = S extends { readonly additionalProperties: infer A }
  ? A extends false
    ? unknown
    : A extends true
      ? Record<string, unknown>
      : Record<string, FromSchema<A>>
  : S extends { readonly properties: object }
    ? unknown
    : Record<string, unknown>;

type Flatten<T> = T extends object ? { [K in keyof T]: T[K] } : T;

type OfType<S, T> = T extends keyof Simple
  ? Simple[T]
  : T extends 'array'
    ? S extends { readonly items: infer I }
      ? FromSchema<I>[]
      : unknown[]
    : T extends 'object'
      ? Flatten<Props<S> & Extra<S>>
      : unknown;

export type FromSchema<S> = S extends { readonly const: infer C }
  ? C
  : S extends { readonly enum: readonly (infer E)[] }
    ? E
    : S extends { readonly anyOf: readonly (infer A)[] }
      ? FromSchema<A>
      : S extends { readonly oneOf: readonly (infer A)[] }
        ? FromSchema<A>
        : S extends { readonly type: readonly (infer T)[] }
          ? OfType<S, T>
          : S extends { readonly type: infer T }
            ? OfType<S, T>
            : unknown;
