/** Plugin artifacts for the benches, written under os.tmpdir() and removed by `cleanup()`. */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];

/**
 * A scratch folder, removed by `cleanup()`. Children put theirs under the parent's
 * MOLT_BENCH_TMP, so a child killed at its time cap leaves nothing behind.
 */
export async function scratchDir(label: string): Promise<string> {
  const base = process.env.MOLT_BENCH_TMP ?? tmpdir();
  const dir = await mkdtemp(join(base, `molt-bench-${label}-`));
  made.push(dir);
  return dir;
}

/** A small plugin: `noop` answers 1, `version` answers `tag` (so a reload can be verified). */
export function benchPluginSource(tag: string): string {
  return `export default {
  tools: {
    noop: { handler: () => 1 },
    version: { handler: () => ${JSON.stringify(tag)} },
  },
};
`;
}

/** Writes one artifact folder (molt.json + index.mjs) and returns its path. */
export async function writeArtifact(
  name: string,
  version: string,
  source: string,
): Promise<string> {
  const dir = await scratchDir(name);
  await writeFile(join(dir, 'index.mjs'), source);
  const buildId = createHash('sha256').update(source).digest('hex');
  const manifest = { name, version, entry: 'index.mjs', buildId };
  await writeFile(join(dir, 'molt.json'), JSON.stringify(manifest));
  return dir;
}

/** Two versions of the bench plugin, to alternate between on reload. */
export async function pluginPair(name: string): Promise<[string, string]> {
  return [
    await writeArtifact(name, '1.0.0', benchPluginSource('v1')),
    await writeArtifact(name, '1.0.1', benchPluginSource('v2')),
  ];
}

export async function cleanup(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}
