/**
 * Inside the sandbox, at load: a plugin's `resources` and `prompts` checked and bounded before
 * any is served (RESOURCE_INVALID, PROMPT_INVALID), and the tables the runtime serves them from.
 */
import type { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import { ErrorCodes } from '../../errors/errors.js';
import type { Plugin, Prompt, Resource } from '../../plugin/index.js';
import {
  MAX_PROMPT_ARGS,
  MAX_PROMPTS,
  MAX_RESOURCES,
  MAX_TITLE,
  MAX_URI,
  type PromptInfo,
  type ResourceInfo,
  type ResourceTemplateInfo,
} from '../protocol.js';
import { parseTemplate } from '../served.js';

/** Makes the runtime's own error (one that keeps its molt code across the wire). */
export type Refuse = (code: string, message: string) => Error;

type AnyResource = Resource<unknown>;
type AnyPrompt = Prompt<unknown>;

export interface LoadedTemplate {
  uriTemplate: string;
  template: UriTemplate;
  resource: AnyResource;
}

/** What a plugin serves besides tools, as the runtime looks it up per call. */
export interface Served {
  resources: Map<string, AnyResource>;
  /** In declaration order: a URI is read by the first template that matches it. */
  templates: LoadedTemplate[];
  prompts: Map<string, AnyPrompt>;
}

export const NOTHING_SERVED: Served = { resources: new Map(), templates: [], prompts: new Map() };

/** A title, description or mimeType as declared, if it is a string within `max`. */
function text(
  refuse: Refuse,
  value: unknown,
  max: number,
  what: string,
  code: string,
): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > max)
    throw refuse(code, `${what} must be a string of at most ${max} characters`);
  return value;
}

function described(
  refuse: Refuse,
  r: AnyResource,
  key: string,
  what: string,
): { name: string; title?: string; description?: string; mimeType?: string } {
  const code = ErrorCodes.RESOURCE_INVALID;
  const out: { name: string; title?: string; description?: string; mimeType?: string } = {
    name: text(refuse, r.name, MAX_URI, `${what}: name`, code) ?? key,
  };
  const title = text(refuse, r.title, MAX_TITLE, `${what}: title`, code);
  const description = text(refuse, r.description, 16_384, `${what}: description`, code);
  const mimeType = text(refuse, r.mimeType, 256, `${what}: mimeType`, code);
  if (title !== undefined) out.title = title;
  if (description !== undefined) out.description = description;
  if (mimeType !== undefined) out.mimeType = mimeType;
  return out;
}

/** The plugin's resources, templates and prompts, checked and bounded before any is served. */
export function loadServed(
  p: Plugin,
  refuse: Refuse,
): {
  next: Served;
  resources: ResourceInfo[];
  resourceTemplates: ResourceTemplateInfo[];
  prompts: PromptInfo[];
} {
  const next: Served = { resources: new Map(), templates: [], prompts: new Map() };
  const resources: ResourceInfo[] = [];
  const resourceTemplates: ResourceTemplateInfo[] = [];
  const prompts: PromptInfo[] = [];
  const declared = (p as { resources?: unknown }).resources;
  if (declared !== undefined) {
    if (typeof declared !== 'object' || declared === null)
      throw refuse(ErrorCodes.RESOURCE_INVALID, '"resources" must be an object');
    const keys = Object.keys(declared);
    if (keys.length > MAX_RESOURCES)
      throw refuse(
        ErrorCodes.RESOURCE_INVALID,
        `${keys.length} resources: at most ${MAX_RESOURCES} (templates included)`,
      );
    for (const key of keys) {
      const r = (declared as Record<string, AnyResource>)[key]!;
      const what = `resource "${key.slice(0, 64)}${key.length > 64 ? '…' : ''}"`;
      if (key.length === 0 || key.length > MAX_URI)
        throw refuse(
          ErrorCodes.RESOURCE_INVALID,
          `${what}: a URI must be 1 to ${MAX_URI} characters`,
        );
      if (typeof r?.read !== 'function')
        throw refuse(ErrorCodes.RESOURCE_INVALID, `${what} has no read function`);
      if (!key.includes('{') && !key.includes('}')) {
        next.resources.set(key, r);
        resources.push({ uri: key, ...described(refuse, r, key, what) });
        continue;
      }
      const template = parseTemplate(key);
      if (typeof template === 'string')
        throw refuse(ErrorCodes.RESOURCE_INVALID, `${what}: the template ${template}`);
      if (r.complete !== undefined)
        checkCompleters(refuse, r.complete, what, ErrorCodes.RESOURCE_INVALID);
      next.templates.push({ uriTemplate: key, template, resource: r });
      resourceTemplates.push({ uriTemplate: key, ...described(refuse, r, key, what) });
    }
  }
  const declaredPrompts = (p as { prompts?: unknown }).prompts;
  if (declaredPrompts !== undefined) {
    const code = ErrorCodes.PROMPT_INVALID;
    if (typeof declaredPrompts !== 'object' || declaredPrompts === null)
      throw refuse(code, '"prompts" must be an object');
    const keys = Object.keys(declaredPrompts);
    if (keys.length > MAX_PROMPTS)
      throw refuse(code, `${keys.length} prompts: at most ${MAX_PROMPTS}`);
    for (const name of keys) {
      const pr = (declaredPrompts as Record<string, AnyPrompt>)[name]!;
      const what = `prompt "${name.slice(0, 64)}"`;
      if (name.length === 0 || name.length > 128)
        throw refuse(code, `${what}: a name must be 1 to 128 characters`);
      if (typeof pr?.get !== 'function') throw refuse(code, `${what} has no get function`);
      const info: PromptInfo = { name, arguments: [] };
      const title = text(refuse, pr.title, MAX_TITLE, `${what}: title`, code);
      const description = text(refuse, pr.description, 16_384, `${what}: description`, code);
      if (title !== undefined) info.title = title;
      if (description !== undefined) info.description = description;
      const args = pr.arguments ?? [];
      if (!Array.isArray(args) || args.length > MAX_PROMPT_ARGS)
        throw refuse(code, `${what}: arguments must be a list of at most ${MAX_PROMPT_ARGS}`);
      for (const a of args as unknown[]) {
        const arg = a as { name?: unknown; description?: unknown; required?: unknown };
        if (typeof arg?.name !== 'string' || arg.name.length === 0 || arg.name.length > 128)
          throw refuse(code, `${what}: an argument needs a name of 1 to 128 characters`);
        const out: PromptInfo['arguments'][number] = { name: arg.name };
        const d = text(refuse, arg.description, 16_384, `${what}: argument description`, code);
        if (d !== undefined) out.description = d;
        if (arg.required !== undefined) {
          if (typeof arg.required !== 'boolean')
            throw refuse(code, `${what}: "required" must be true or false`);
          out.required = arg.required;
        }
        info.arguments.push(out);
      }
      if (pr.complete !== undefined) checkCompleters(refuse, pr.complete, what, code);
      next.prompts.set(name, pr);
      prompts.push(info);
    }
  }
  return { next, resources, resourceTemplates, prompts };
}

function checkCompleters(refuse: Refuse, complete: unknown, what: string, code: string): void {
  if (typeof complete !== 'object' || complete === null)
    throw refuse(code, `${what}: complete must be an object of functions`);
  for (const [k, f] of Object.entries(complete))
    if (typeof f !== 'function')
      throw refuse(code, `${what}: complete.${k.slice(0, 64)} is not a function`);
}
