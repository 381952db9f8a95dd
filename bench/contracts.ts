/**
 * (j) A plugin-to-plugin call (`ctx.call` through the host) next to an outside call: the
 * consumer's `via` tool calls the provider's `noop` through the host, so `via` is an outside call
 * plus one call through the host; `direct` is the consumer answering itself (one outside call).
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHost } from '../src/index.js';
import { scratchDir } from './artifacts.js';
import { type Measured, measure } from './calls.js';
import { heading, note, num, ratio, table } from './report.js';

export interface ContractsResult {
  provider: Measured;
  direct: Measured;
  via: Measured;
  /** `via` minus `direct`: what one call through the host adds, at 1 in flight. */
  addedP50Us: number;
  addedP99Us: number;
}

async function artifact(
  name: string,
  source: string,
  manifest: Record<string, unknown>,
): Promise<string> {
  const dir = await scratchDir(name);
  await writeFile(join(dir, 'index.mjs'), source);
  const buildId = createHash('sha256').update(source).digest('hex');
  await writeFile(
    join(dir, 'molt.json'),
    JSON.stringify({ name, version: '1.0.0', entry: 'index.mjs', buildId, ...manifest }),
  );
  return dir;
}

export async function benchContracts(): Promise<ContractsResult> {
  heading('(j) plugin-to-plugin call (ctx.call through the host) vs an outside call');
  const host = await createHost({ standby: 0 });
  let provider: Measured;
  let direct: Measured;
  let via: Measured;
  try {
    await host.load(
      await artifact('geo', `export default { tools: { noop: { handler: () => 1 } } };`, {
        provides: { geo: '1.0.0' },
      }),
    );
    await host.load(
      await artifact(
        'trip',
        `export default { tools: {
          direct: { handler: () => 1 },
          via: { handler: (a, ctx) => ctx.call('geo', 'noop') },
        } };`,
        { requires: { geo: '^1' } },
      ),
    );
    [provider, direct, via] = (await measure(
      [
        () => host.call('geo', 'noop'),
        () => host.call('trip', 'direct'),
        () => host.call('trip', 'via'),
      ],
      { rounds: 6, windowMs: 400, alternate: true },
    )) as [Measured, Measured, Measured];
  } finally {
    await host.close();
  }
  const row = (label: string, pick: (m: Measured) => number, digits = 1): string[] => [
    label,
    num(pick(provider), digits),
    num(pick(direct), digits),
    num(pick(via), digits),
    ratio(pick(via), pick(direct)),
  ];
  table(
    [
      'metric',
      'outside → geo.noop',
      'outside → trip.direct',
      'outside → trip.via → geo',
      'via/direct',
    ],
    [
      row('latency p50, 1 in flight (µs)', (m) => m.one.latency.p50),
      row('latency p99, 1 in flight (µs)', (m) => m.one.latency.p99),
      row('calls/s, 64 in flight', (m) => m.many.callsPerSec, 0),
      row('latency p50, 64 in flight (µs)', (m) => m.many.latency.p50),
      row('main-thread busy µs/call, 64 in flight', (m) => m.many.mainBusyUs),
    ],
  );
  const addedP50Us = via.one.latency.p50 - direct.one.latency.p50;
  const addedP99Us = via.one.latency.p99 - direct.one.latency.p99;
  note(
    `one call through the host adds ${num(addedP50Us, 1)} µs p50 / ${num(addedP99Us, 1)} µs p99 at 1 in flight (an outside call to geo: ${num(provider.one.latency.p50, 1)} µs p50)`,
  );
  return { provider, direct, via, addedP50Us, addedP99Us };
}
