export { DEFAULT_STORE_LIMITS, type StoreLimits } from './limits.js';
export { STORE_TMP_DIR, Store, type StoredArtifact } from './store.js';
