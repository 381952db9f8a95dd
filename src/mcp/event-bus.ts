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
import type { ServerEvent, ServerEventBus } from '@modelcontextprotocol/server';

export type { ServerEvent, ServerEventBus };

/**
 * The in-process bus, as the SDK's `InMemoryServerEventBus` behaves: synchronous delivery, a
 * listener that throws does not keep the event from the others, unsubscribing is idempotent.
 * Not that class itself only because importing `@modelcontextprotocol/server` costs ~200 ms of
 * CPU, which every host (and `import 'molt'`) would pay; only HTTP serving loads it.
 */
class InProcessBus implements ServerEventBus {
  readonly #listeners = new Set<(event: ServerEvent) => void>();
  readonly #onerror: ((err: Error) => void) | undefined;

  constructor(onerror?: (err: Error) => void) {
    this.#onerror = onerror;
  }

  publish(event: ServerEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.#onerror?.(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  subscribe(listener: (event: ServerEvent) => void): () => void {
    const own = (event: ServerEvent): void => listener(event);
    this.#listeners.add(own);
    return () => {
      this.#listeners.delete(own);
    };
  }
}

export function inProcessBus(onerror?: (err: Error) => void): ServerEventBus {
  return new InProcessBus(onerror);
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
