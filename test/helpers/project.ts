/** Writes TypeScript plugin source projects (what `molt pack` and `molt dev` read). */
import { copyFile, mkdir, mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export async function tempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `molt-${label}-`));
}

/** A plugin project whose tool `version` answers `tag` and `slow` waits `ms` first. */
export function pluginSource(tag: string): string {
  return `import { definePlugin } from 'molt/plugin';

export default definePlugin({
  tools: {
    version: { description: 'which build answers', handler: () => ${JSON.stringify(tag)} },
    add: {
      description: 'adds two numbers',
      inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } } },
      handler: (args: { a: number; b: number }) => args.a + args.b,
    },
    slow: {
      description: 'answers like version, after ms milliseconds',
      inputSchema: { type: 'object', properties: { ms: { type: 'integer', minimum: 0 } } },
      handler: async ({ ms = 0 }: { ms?: number }) => {
        await new Promise((r) => setTimeout(r, ms));
        return ${JSON.stringify(tag)};
      },
    },
  },
});
`;
}

export async function writeProject(
  dir: string,
  name: string,
  version: string,
  source: string,
): Promise<string> {
  await mkdir(join(dir, 'src'), { recursive: true });
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name, version, type: 'module' }, null, 2),
  );
  await writeFile(join(dir, 'src', 'index.ts'), source);
  return dir;
}

/** Puts an artifact into a watched folder the way a deploy tool should: write aside, then rename. */
export async function placeArtifact(
  file: string,
  folder: string,
  as = basename(file),
): Promise<string> {
  const target = join(folder, as);
  await copyFile(file, `${target}.part`);
  await rename(`${target}.part`, target);
  return target;
}
