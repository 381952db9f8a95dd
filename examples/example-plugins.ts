/** Where the example plugin projects are, from wherever this file was compiled to. */
import { readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const isFile = async (path: string): Promise<boolean> =>
  (await stat(path).catch(() => undefined))?.isFile() === true;

/** The plugin projects (folders with a package.json) in `dir`, sorted by folder name. */
export async function projectsIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const projects: string[] = [];
  for (const e of entries) {
    if (e.isDirectory() && (await isFile(join(dir, e.name, 'package.json')))) {
      projects.push(join(dir, e.name));
    }
  }
  return projects.sort();
}

async function walkUp(from: string): Promise<string | undefined> {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if ((await projectsIn(join(dir, 'examples', 'plugins'))).length > 0) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * The repository holding `examples/plugins/`: `MOLT_REPO_ROOT` if set, else the first folder
 * above this compiled file (`dist/examples/` → the repository), else above the working directory
 * (a build written outside the repository).
 */
export async function findRepoRoot(): Promise<string> {
  const fromEnv = process.env.MOLT_REPO_ROOT;
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  const root =
    (await walkUp(dirname(fileURLToPath(import.meta.url)))) ?? (await walkUp(process.cwd()));
  if (root === undefined) {
    throw new Error(
      'cannot find examples/plugins/ above this script or the working directory; set MOLT_REPO_ROOT',
    );
  }
  return root;
}

/** The example plugin projects: `<repo>/examples/plugins/<name>/`. */
export async function exampleProjects(root?: string): Promise<string[]> {
  return projectsIn(join(root ?? (await findRepoRoot()), 'examples', 'plugins'));
}
