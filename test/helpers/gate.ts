/**
 * A gate that a plugin handler, in its own worker thread, blocks on until the test opens it.
 * It rides a BroadcastChannel, which reaches every thread of the process: no sleeps, no polling.
 *
 * In the plugin: `await gate('name')` (from `gateSource`) posts "entered" and waits for "open".
 */
import { BroadcastChannel } from 'node:worker_threads';
import { versionPlugin, writeArtifact } from './artifact.js';

let seq = 0;

export interface Gate {
  readonly name: string;
  /** Resolves once `count` handlers have entered the gate. */
  entered(count?: number): Promise<void>;
  open(): void;
  close(): void;
}

export function createGate(label = 'gate'): Gate {
  const name = `molt-test-${label}-${process.pid}-${++seq}`;
  const channel = new BroadcastChannel(name);
  let entries = 0;
  let waiters: { count: number; resolve: () => void }[] = [];
  let opened = false;
  channel.onmessage = (ev) => {
    const data = (ev as MessageEvent).data as string;
    if (data === 'entered') {
      entries++;
      if (opened) channel.postMessage('open');
      const ready = waiters.filter((w) => entries >= w.count);
      waiters = waiters.filter((w) => entries < w.count);
      for (const w of ready) w.resolve();
    }
  };
  (channel as unknown as { unref?: () => void }).unref?.();
  return {
    name,
    entered(count = 1) {
      if (entries >= count) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ count, resolve }));
    },
    open() {
      opened = true;
      channel.postMessage('open');
    },
    close() {
      channel.close();
    },
  };
}

/** Source of an async `gate(name)` function to paste into a plugin's entry. */
export const gateSource = `
import { BroadcastChannel as __BC } from 'node:worker_threads';
function gate(name) {
  return new Promise((resolve) => {
    const ch = new __BC(name);
    ch.onmessage = (ev) => { if (ev.data === 'open') { ch.close(); resolve(); } };
    ch.postMessage('entered');
  });
}
`;

/**
 * Source of `signal(name)`: tells the test's gate that plugin code got here, and goes on
 * without waiting (before a loop that blocks forever, say). Pair it with `gate.entered()`.
 */
export const signalSource = `
import { BroadcastChannel as __SBC } from 'node:worker_threads';
function signal(name) { new __SBC(name).postMessage('entered'); }
`;

/**
 * `count` versions 1.0.0 … 1.0.(count-1) of plugin `name` whose `version` tool answers the
 * version's index and whose `hold` tool blocks on that version's own gate: hold calls on one
 * version across its swap, then open its gate. Close the gates after the test.
 */
export async function gatedVersions(
  name: string,
  count: number,
  label: string,
): Promise<{ gates: Gate[]; dirs: string[] }> {
  const gates = Array.from({ length: count }, (_, i) => createGate(`${label}-${i}`));
  const dirs = await Promise.all(
    gates.map((gate, i) =>
      writeArtifact({
        name,
        version: `1.0.${i}`,
        source:
          gateSource +
          versionPlugin(
            String(i),
            `hold: { handler: async () => { await gate(${JSON.stringify(gate.name)}); return '${i}'; } },`,
          ),
      }),
    ),
  );
  return { gates, dirs };
}
