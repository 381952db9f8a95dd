/**
 * The one place MCP change events go through: list changes of tools, resources and prompts, and
 * a resource's update. The front door publishes each to one `ServerEventBus` (the SDK 2.x seam);
 * both protocol generations read that bus: the 2026-07-28 `subscriptions/listen` streams through
 * the SDK's own listen router, the 2025 sessions through `deliverToSessions` below.
 *
 * A multi-host deployment swaps this bus, nothing else: hand `FrontDoorOptions.bus` an object
 * implementing `publish`/`subscribe` over a pub/sub every host shares (Redis, NATS, Postgres
 * LISTEN), and a change published on one host reaches the listen streams and sessions of all.
 * The default is the SDK's in-process bus, which delivers synchronously: a list change reaches
 * every stream in the same turn as the pointer swap that made it (G2).
 */
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  InMemoryServerEventBus,
  type ServerEvent,
  type ServerEventBus,
} from '@modelcontextprotocol/server';

export type { ServerEvent, ServerEventBus };

/** The in-process bus; a listener that throws is reported and the others still get the event. */
export function inProcessBus(onerror?: (err: Error) => void): ServerEventBus {
  return new InMemoryServerEventBus(onerror);
}

/**
 * An event as 2025 sessions get it: each list change to every session, a resource update only
 * to the sessions subscribed to its URI (`resources/subscribe`).
 */
export function deliverToSessions(
  event: ServerEvent,
  sessions: ReadonlyMap<Server, ReadonlySet<string>>,
): void {
  // A session whose transport is gone fails here; it is removed on its own close.
  const each = (send: (server: Server) => Promise<void>): void => {
    for (const server of sessions.keys()) send(server).catch(() => {});
  };
  switch (event.kind) {
    case 'tools_list_changed':
      each((s) => s.sendToolListChanged());
      break;
    case 'resources_list_changed':
      each((s) => s.sendResourceListChanged());
      break;
    case 'prompts_list_changed':
      each((s) => s.sendPromptListChanged());
      break;
    case 'resource_updated':
      for (const [server, subscribed] of sessions)
        if (subscribed.has(event.uri))
          server.sendResourceUpdated({ uri: event.uri }).catch(() => {});
  }
}
