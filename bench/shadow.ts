/**
 * (s) What a shadow costs the callers: a no-op read-only call on a host with no shadow, with a
 * shadow mirroring 10% of the calls, and with one mirroring every call (bounded at 16 in
 * flight), in interleaved rounds. The candidate's copies run on its own worker thread: on a
 * machine with spare cores they cost a caller the host thread's extra work only.
 */
import { createHost, type Host } from '../src/index.js';
import { writeArtifact } from './artifacts.js';
import { type Measured, measure } from './calls.js';
import { heading, note, num, ratio, table } from './report.js';

export interface ShadowBenchResult {
  none: Measured;
  tenth: Measured;
  all: Measured;
  /** Mirrored and skipped by the end of the run, for each shadow. */
  mirrored: { tenth: number; all: number };
  skipped: { tenth: number; all: number };
}

const SOURCE = `export default { tools: {
  noop: { annotations: { readOnlyHint: true }, handler: () => 1 },
} };
`;

/** A host serving `name` and, unless `sample` is undefined, a shadow reload of it running. */
async function subject(
  name: string,
  sample: number | undefined,
): Promise<{ host: Host; done: Promise<unknown> }> {
  const host = await createHost({ standby: 0, probationMs: 0 });
  await host.load(await writeArtifact(name, '1.0.0', SOURCE));
  if (sample === undefined) return { host, done: Promise.resolve() };
  const started = new Promise<void>((resolve) => {
    const off = host.on('promotion.started', () => {
      off();
      resolve();
    });
  });
  const done = host.reload(name, await writeArtifact(name, '1.0.1', SOURCE), {
    shadow: { sample, calls: 1_000_000, timeoutMs: 600_000 },
  });
  done.catch(() => {});
  await started;
  return { host, done };
}

export async function benchShadow(): Promise<ShadowBenchResult> {
  heading('(s) a no-op read-only call with a shadow mirroring none, 10% or all of the calls');
  const subjects = [
    await subject('s0', undefined),
    await subject('s10', 0.1),
    await subject('s100', 1),
  ];
  let results: Measured[];
  const figures = (i: number) => subjects[i]!.host.plugins()[0]?.shadow?.shadow;
  let mirrored = { tenth: 0, all: 0 };
  let skipped = { tenth: 0, all: 0 };
  try {
    // Names known up front: a call must not pay for building host.plugins().
    const names = ['s0', 's10', 's100'];
    results = await measure(
      subjects.map(
        ({ host }, i) =>
          () =>
            host.call(names[i]!, 'noop'),
      ),
      { rounds: 4, windowMs: 400, alternate: true },
    );
    // A shadow that decided during the run measured part of it without one: no figures then.
    if (figures(1) === undefined || figures(2) === undefined)
      throw new Error('a shadow decided during the bench: raise its calls');
    mirrored = { tenth: figures(1)?.mirrored ?? 0, all: figures(2)?.mirrored ?? 0 };
    skipped = { tenth: figures(1)?.skipped ?? 0, all: figures(2)?.skipped ?? 0 };
  } finally {
    for (const { host } of subjects) {
      await host.abort(host.plugins()[0]!.name).catch(() => {});
      await host.close();
    }
  }
  const [none, tenth, all] = results as [Measured, Measured, Measured];
  const row = (label: string, pick: (m: Measured) => number, digits = 2): string[] => [
    label,
    num(pick(none), digits),
    num(pick(tenth), digits),
    ratio(pick(tenth), pick(none)),
    num(pick(all), digits),
    ratio(pick(all), pick(none)),
  ];
  table(
    ['metric', 'no shadow', 'shadow 10%', '10%/none', 'shadow 100%', '100%/none'],
    [
      row('latency p50, 1 in flight (µs)', (m) => m.one.latency.p50),
      row('latency p99, 1 in flight (µs)', (m) => m.one.latency.p99),
      row('calls/s, 64 in flight', (m) => m.many.callsPerSec, 0),
      row('latency p99, 64 in flight (µs)', (m) => m.many.latency.p99),
      row('main-thread busy µs/call, 64 in flight', (m) => m.many.mainBusyUs),
    ],
  );
  note(
    `mirrored: ${mirrored.tenth} (10%) and ${mirrored.all} (100%); skipped past 16 in flight: ${skipped.tenth} and ${skipped.all}`,
  );
  return { none, tenth, all, mirrored, skipped };
}
