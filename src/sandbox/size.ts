/**
 * Whether a value would take more than `limit` bytes to carry to the host (see `estimateBytes`).
 * It runs inside the sandbox on every result, so the plugin pays for its own large result and
 * the host never receives it; a small result costs a few checks.
 */
export function exceedsBytes(value: unknown, limit: number): boolean {
  return estimateBytes(value, limit) > limit;
}

/**
 * About how many bytes a value takes serialized, by walking it (strings by length, binary data
 * by byteLength, 8 bytes per other leaf or key), without building the serialization; the walk
 * stops as soon as the estimate passes `stopAbove`.
 */
export function estimateBytes(value: unknown, stopAbove = Number.POSITIVE_INFINITY): number {
  if (typeof value !== 'object' || value === null) {
    return typeof value === 'string' ? value.length : 8;
  }
  let total = 0;
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      total += v.length + 8;
    } else if (typeof v !== 'object' || v === null) {
      total += 8;
    } else if (!seen.has(v)) {
      seen.add(v);
      if (ArrayBuffer.isView(v)) total += v.byteLength;
      else if (v instanceof ArrayBuffer || v instanceof SharedArrayBuffer) total += v.byteLength;
      else if (Array.isArray(v)) {
        // Counted before the walk, so a huge array fails fast instead of filling the stack.
        total += 8 * (v.length + 1);
        if (total > stopAbove) return total;
        for (const item of v) stack.push(item);
      } else if (v instanceof Map) {
        total += 16 * v.size;
        if (total > stopAbove) return total;
        for (const [k, item] of v) stack.push(k, item);
      } else if (v instanceof Set) {
        total += 8 * v.size;
        if (total > stopAbove) return total;
        for (const item of v) stack.push(item);
      } else {
        for (const key of Object.keys(v)) {
          total += key.length + 8;
          stack.push((v as Record<string, unknown>)[key]);
        }
      }
    }
    if (total > stopAbove) return total;
  }
  return total;
}
