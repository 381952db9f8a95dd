export type { BuildProblem } from './build.js';
export {
  type BuiltPlugin,
  buildPlugin,
  ENTRY_FILE,
  type PackOptions,
  type PackResult,
  pack,
  writeArtifactDir,
} from './pack.js';
