/**
 * Steps 3–5 of a reload: start a sandbox, load the entry and verify the buildId it reports,
 * `init()` with a timeout, `health()`. Nothing here holds a lock or touches the slot, so one
 * plugin's slow init never delays another plugin.
 */
import { ErrorCodes, MoltError } from '../errors/errors.js';
import type { EventBus } from '../events/bus.js';
import type { HostEvents, StepTimings } from '../events/events.js';
import type { Artifact } from '../manifest/manifest.js';
import type { SandboxPool } from '../sandbox/pool.js';
import { type CallCounters, Generation } from './generation.js';
import { generationLimits, type ResolvedOptions, resourceLimits } from './options.js';

export interface StarterDeps {
  pool: SandboxPool;
  bus: EventBus<HostEvents>;
  options: ResolvedOptions;
}

const since = (t: number): number => performance.now() - t;

export async function startGeneration(
  artifact: Artifact,
  deps: StarterDeps,
  counters: CallCounters,
  timings: StepTimings,
): Promise<Generation> {
  const { manifest } = artifact;
  if (manifest.isolation === 'process') {
    throw new MoltError(
      ErrorCodes.LOAD_FAILED,
      `${manifest.name}: process isolation is not available in this version`,
    );
  }
  const name = manifest.name;
  const limits = generationLimits(manifest, deps.options);
  let t = performance.now();
  const begun = t;
  let gen: Generation | undefined;
  const sandbox = deps.pool.take(resourceLimits(manifest, deps.options), {
    onLog: (level, msg, data) =>
      deps.bus.emit('plugin.log', { name, generation: gen?.id ?? 0, level, msg, data }),
    onOutput: (stream, chunk) => deps.options.output(name, stream, chunk),
  });
  sandbox.setTimeouts(limits.callTimeoutMs, deps.options.unresponsiveMs);
  gen = new Generation(artifact, sandbox, limits, counters);
  timings.start = since(t);
  try {
    t = performance.now();
    const info = await sandbox.load(
      { entryPath: artifact.entryPath, artifactDir: artifact.dir, name },
      limits.initTimeoutMs,
    );
    timings.load = since(t);
    if (info.buildId !== manifest.buildId) {
      throw new MoltError(
        ErrorCodes.BUILD_MISMATCH,
        `${name}@${manifest.version}: the sandbox evaluated build ${info.buildId.slice(0, 12)} but the manifest says ${manifest.buildId.slice(0, 12)}`,
        { details: { expected: manifest.buildId, actual: info.buildId } },
      );
    }
    gen.setLoaded(info);
    t = performance.now();
    await gen.op('init', { config: manifest.config, artifactDir: artifact.dir });
    timings.init = since(t);
    if (info.hasHealth) {
      t = performance.now();
      await gen.op('health', undefined);
      timings.health = since(t);
    }
  } catch (err) {
    gen.to('retired');
    await sandbox.terminate(ErrorCodes.PLUGIN_CRASHED, 'start failed');
    throw err;
  }
  gen.to('ready');
  deps.bus.emit('generation.started', {
    name,
    to: gen.ref,
    timings: { ...timings, total: since(begun) },
  });
  return gen;
}
