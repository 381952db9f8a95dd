/**
 * Plugin sources and small helpers for the fault-isolation tests (G4): plugins that throw,
 * hang, loop, run out of memory or crash, and a well-behaved bystander that must keep serving.
 */
import assert from 'node:assert/strict';
import type { Host, HostEvents } from '../../src/index.js';
import { writeArtifact } from './artifact.js';

/** The unrelated plugin: it counts its calls, so a restart of its worker would show. */
export const BYSTANDER = 'bystander';
export const bystanderSource = `let calls = 0;
export default {
  tools: {
    ping: { description: 'answers while its neighbours misbehave', handler: () => ({ pong: ++calls }) },
  },
};
`;

/**
 * A plugin with a `version` tool answering `tag`, plus optional lifecycle hooks and tools
 * (source snippets pasted into the default export).
 */
export function faultyPlugin(
  tag: string,
  parts: { init?: string; health?: string; tools?: string; prelude?: string } = {},
): string {
  return `${parts.prelude ?? ''}
export default {
  ${parts.init === undefined ? '' : `async init(ctx) { ${parts.init} },`}
  ${parts.health === undefined ? '' : `async health() { ${parts.health} },`}
  tools: {
    version: { handler: () => ${JSON.stringify(tag)} },
    ${parts.tools ?? ''}
  },
};
`;
}

/** Resolves with the next `event` that `match` accepts. Subscribe before causing the event. */
export function nextEvent<K extends keyof HostEvents>(
  host: Host,
  event: K,
  match: (e: HostEvents[K]) => boolean = () => true,
): Promise<HostEvents[K]> {
  return new Promise((resolve) => {
    const off = host.on(event, (e) => {
      if (!match(e)) return;
      off();
      resolve(e);
    });
  });
}

/** Loads the bystander into `host`; resolves to its generation, for `assertBystanderServes`. */
export async function loadBystander(host: Host): Promise<number> {
  await host.load(await writeArtifact({ name: BYSTANDER, source: bystanderSource }));
  return bystanderGeneration(host);
}

/** The generation the bystander runs on, to prove later that it was never restarted. */
export function bystanderGeneration(host: Host): number {
  const info = host.plugins().find((p) => p.name === BYSTANDER);
  assert.ok(info, 'the bystander is loaded');
  return info.generation;
}

/**
 * Asserts the bystander still answers, on the same generation (same worker, same state), and
 * that the host still reports it active.
 */
export async function assertBystanderServes(host: Host, generation: number): Promise<void> {
  const answer = (await host.call(BYSTANDER, 'ping', {})) as { pong: number };
  assert.equal(typeof answer.pong, 'number');
  const info = host.plugins().find((p) => p.name === BYSTANDER);
  assert.ok(info, 'the bystander is still loaded');
  assert.equal(info.state, 'active');
  assert.equal(info.generation, generation, 'the bystander was never restarted');
}

/** Matches a MoltError by its string code (and optionally its message). */
export function withCode(code: string, message?: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    const e = err as { code?: unknown; message?: unknown };
    assert.equal(
      e.code,
      code,
      `expected code ${code}, got ${String(e.code)}: ${String(e.message)}`,
    );
    if (message !== undefined) assert.match(String(e.message), message);
    return true;
  };
}
