/**
 * Step 7 for what a plugin serves besides tools: in the swap's turn, `resources.changed` when
 * its resources or templates changed and `prompts.changed` when its prompts did, each only on
 * a real change of what a client would list, so a reload that changes only code is silent.
 */
import type { EventBus } from '../events/bus.js';
import type { HostEvents } from '../events/events.js';
import type { LoadedInfo } from '../sandbox/protocol.js';

/** A served list is kept, listed and compared at each swap: its JSON is bounded like tools'. */
export const MAX_SERVED_JSON = 4 * 1024 * 1024;

const resourceSigs = new WeakMap<LoadedInfo, string>();
const promptSigs = new WeakMap<LoadedInfo, string>();

/** What a client would see of the resources and templates: every field MCP lists. */
export function resourceSignature(info: LoadedInfo): string {
  let s = resourceSigs.get(info);
  if (s === undefined) {
    s = JSON.stringify([info.resources, info.resourceTemplates]);
    resourceSigs.set(info, s);
  }
  return s;
}

export function promptSignature(info: LoadedInfo): string {
  let s = promptSigs.get(info);
  if (s === undefined) {
    s = JSON.stringify(info.prompts);
    promptSigs.set(info, s);
  }
  return s;
}

/** `replaced` undefined: a first load, published only if it serves any. */
export function publishServed(
  bus: EventBus<HostEvents>,
  name: string,
  replaced: LoadedInfo | undefined,
  info: LoadedInfo,
  generation: number,
): void {
  const hasResources = info.resources.length + info.resourceTemplates.length > 0;
  if (
    replaced === undefined ? hasResources : resourceSignature(replaced) !== resourceSignature(info)
  ) {
    bus.emit('resources.changed', {
      name,
      resources: info.resources,
      resourceTemplates: info.resourceTemplates,
      generation,
    });
  }
  if (
    replaced === undefined
      ? info.prompts.length > 0
      : promptSignature(replaced) !== promptSignature(info)
  ) {
    bus.emit('prompts.changed', { name, prompts: info.prompts, generation });
  }
}

/** An unload: what the plugin served leaves every front door. */
export function unpublishServed(bus: EventBus<HostEvents>, name: string, info: LoadedInfo): void {
  if (info.resources.length + info.resourceTemplates.length > 0)
    bus.emit('resources.changed', {
      name,
      resources: [],
      resourceTemplates: [],
      generation: undefined,
    });
  if (info.prompts.length > 0)
    bus.emit('prompts.changed', { name, prompts: [], generation: undefined });
}
