/** A sandbox factory that records every sandbox it makes, to check which ran and which ended. */
import type { Sandbox, SandboxFactory } from '../../src/index.js';
import { createWorkerSandbox } from '../../src/sandbox/worker.js';

export function recordingFactory(): { factory: SandboxFactory; made: Sandbox[] } {
  const made: Sandbox[] = [];
  return {
    made,
    factory: (spec, hooks) => {
      const s = createWorkerSandbox(spec, hooks);
      made.push(s);
      return s;
    },
  };
}
