/**
 * `jobs`: a slow tool. It works through its steps one at a time, reports progress after each
 * (MCP progress notifications when the client asks for them) and stops as soon as the call is
 * cancelled (`ctx.signal`). A reload while a job runs lets it finish on the old version.
 *
 * Served over MCP as `jobs__run`.
 */
import { definePlugin, type ToolContext } from 'molt/plugin';

const MAX_STEPS = 50;
const MAX_STEP_MS = 500;

/** Waits `ms`, or rejects as soon as `signal` is aborted. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export default definePlugin({
  tools: {
    run: {
      description:
        `Runs a simulated long job of \`steps\` steps taking \`stepMs\` milliseconds each ` +
        `(at most ${MAX_STEPS} × ${MAX_STEP_MS} ms), reporting progress after every step. ` +
        'Can be cancelled. Returns { label, steps, elapsedMs } when done.',
      inputSchema: {
        type: 'object',
        properties: {
          steps: {
            type: 'integer',
            minimum: 1,
            maximum: MAX_STEPS,
            default: 10,
            description: 'How many steps the job has (default 10).',
          },
          stepMs: {
            type: 'integer',
            minimum: 0,
            maximum: MAX_STEP_MS,
            default: 300,
            description: 'How long each step takes, in milliseconds (default 300).',
          },
          label: { type: 'string', description: 'A name for the job, echoed in the result.' },
        },
        additionalProperties: false,
      },
      // Called by `molt soak` while it reloads the plugin (not listed over MCP).
      examples: [{ steps: 2, stepMs: 1, label: 'soak' }],
      handler: async (
        {
          steps = 10,
          stepMs = 300,
          label = 'job',
        }: { steps?: number; stepMs?: number; label?: string },
        ctx: ToolContext,
      ) => {
        const started = performance.now();
        for (let i = 1; i <= steps; i++) {
          try {
            await pause(stepMs, ctx.signal);
          } catch {
            ctx.log.info(`${label}: cancelled during step ${i} of ${steps}`);
            throw new Error(`${label} cancelled during step ${i} of ${steps}`);
          }
          ctx.progress(i, steps, `${label}: step ${i} of ${steps} done`);
        }
        return { label, steps, elapsedMs: Math.round(performance.now() - started) };
      },
    },
  },
});
