/** Writes plugin artifacts (a folder with molt.json and an .mjs entry) for tests. */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ArtifactSpec {
  name: string;
  version?: string;
  /** The entry's source: an ES module whose default export is the plugin. */
  source: string;
  /** Merged over the generated manifest (use it to break it on purpose). */
  manifest?: Record<string, unknown>;
}

const made: string[] = [];

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

export async function writeArtifact(spec: ArtifactSpec): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `molt-${spec.name}-`));
  made.push(dir);
  await writeFile(join(dir, 'index.mjs'), spec.source);
  const manifest = {
    name: spec.name,
    version: spec.version ?? '1.0.0',
    entry: 'index.mjs',
    buildId: sha256(spec.source),
    ...spec.manifest,
  };
  await writeFile(join(dir, 'molt.json'), JSON.stringify(manifest, null, 2));
  return dir;
}

/** Removes every folder this helper made; call from an `after` hook. */
export async function cleanArtifacts(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

/** A plugin whose tool `version` answers `tag`; extra tool sources may be appended. */
export function versionPlugin(tag: string, extraTools = ''): string {
  return `export default {
  tools: {
    version: { description: 'which build answers', handler: () => ${JSON.stringify(tag)} },
    echo: { inputSchema: { type: 'object' }, handler: (args) => args },
    ${extraTools}
  },
};
`;
}
