/**
 * The MCP view of what plugins serve besides tools: resources and URI templates (URIs are
 * global: a URI or template two plugins serve goes to the first by plugin name, the other is
 * reported and left out), and prompts, named like tools (`<plugin>__<prompt>`, or bare). Each
 * rebuild says whether what a client lists of that kind changed.
 */
import type { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import type { Prompt, Resource, ResourceTemplate } from '@modelcontextprotocol/sdk/types.js';
import { type ErrorCode, ErrorCodes } from '../errors/errors.js';
import type { PluginInfo } from '../runtime/host.js';
import { matchTemplate, parseTemplate } from '../sandbox/served.js';
import { defaultNaming, type NameTool, type TableProblem } from './tool-table.js';

interface Template {
  plugin: string;
  listed: ResourceTemplate;
  template: UriTemplate;
}

interface ListedPrompt {
  plugin: string;
  prompt: string;
  listed: Prompt;
}

const byName = (a: { name: string }, b: { name: string }): number =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

export class ServedTable {
  readonly #name: NameTool;
  #resources = new Map<string, { plugin: string; listed: Resource }>();
  #templates: Template[] = [];
  #prompts = new Map<string, ListedPrompt>();
  #resourceSignature = '';
  #promptSignature = '';

  constructor(name: NameTool = defaultNaming) {
    this.#name = name;
  }

  resources(): Resource[] {
    return [...this.#resources.values()].map((r) => r.listed);
  }

  templates(): ResourceTemplate[] {
    return this.#templates.map((t) => t.listed);
  }

  prompts(): Prompt[] {
    return [...this.#prompts.values()].map((p) => p.listed);
  }

  /** The plugin that serves `uri`: its own static URI first, else the first template matching. */
  route(uri: string): string | undefined {
    const fixed = this.#resources.get(uri);
    if (fixed !== undefined) return fixed.plugin;
    for (const t of this.#templates)
      if (matchTemplate(t.template, uri) !== undefined) return t.plugin;
    return undefined;
  }

  /** The plugin whose template is exactly `uriTemplate` (a completion's `ref/resource`). */
  templateOwner(uriTemplate: string): string | undefined {
    return this.#templates.find((t) => t.listed.uriTemplate === uriTemplate)?.plugin;
  }

  prompt(name: string): { plugin: string; prompt: string } | undefined {
    return this.#prompts.get(name);
  }

  rebuildResources(plugins: PluginInfo[]): { changed: boolean; problems: TableProblem[] } {
    const problems: TableProblem[] = [];
    const resources = new Map<string, { plugin: string; listed: Resource }>();
    const templates: Template[] = [];
    const owners = new Map<string, string>();
    const collision = (plugin: string, uri: string): boolean => {
      const other = owners.get(uri);
      if (other === undefined) {
        owners.set(uri, plugin);
        return false;
      }
      problems.push(
        problem(
          ErrorCodes.RESOURCE_URI_COLLISION,
          plugin,
          uri,
          `"${uri}" is already served by ${other}`,
        ),
      );
      return true;
    };
    for (const p of [...plugins].sort(byName)) {
      for (const r of p.resources) {
        if (collision(p.name, r.uri)) continue;
        resources.set(r.uri, { plugin: p.name, listed: { ...r } });
      }
      for (const r of p.resourceTemplates) {
        const template = parseTemplate(r.uriTemplate);
        if (typeof template === 'string') {
          problems.push(
            problem(ErrorCodes.RESOURCE_INVALID, p.name, r.uriTemplate, `the template ${template}`),
          );
          continue;
        }
        if (collision(p.name, r.uriTemplate)) continue;
        templates.push({ plugin: p.name, listed: { ...r }, template });
      }
    }
    this.#resources = resources;
    this.#templates = templates;
    const signature = JSON.stringify([this.resources(), this.templates()]);
    const changed = signature !== this.#resourceSignature;
    this.#resourceSignature = signature;
    return { changed, problems };
  }

  rebuildPrompts(plugins: PluginInfo[]): { changed: boolean; problems: TableProblem[] } {
    const problems: TableProblem[] = [];
    const prompts = new Map<string, ListedPrompt>();
    for (const p of [...plugins].sort(byName)) {
      for (const pr of [...p.prompts].sort(byName)) {
        const name = this.#name(p.name, pr.name);
        const other = prompts.get(name);
        if (other !== undefined) {
          problems.push(
            problem(
              ErrorCodes.PROMPT_NAME_COLLISION,
              p.name,
              pr.name,
              `"${name}" is already taken by ${other.plugin}.${other.prompt}`,
            ),
          );
          continue;
        }
        prompts.set(name, { plugin: p.name, prompt: pr.name, listed: { ...pr, name } });
      }
    }
    this.#prompts = prompts;
    const signature = JSON.stringify(this.prompts());
    const changed = signature !== this.#promptSignature;
    this.#promptSignature = signature;
    return { changed, problems };
  }
}

function problem(code: ErrorCode, plugin: string, tool: string, message: string): TableProblem {
  return { code, plugin, tool, message };
}
