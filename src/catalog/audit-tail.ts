/**
 * Finds where an audit log's last good line ends, reading only its end. A SIGKILL mid-append
 * leaves a fragment with no newline; a crash of the machine can leave a line of NULs. Both are
 * cut: the fragment after the last newline, then at most one complete line that is not JSON.
 * More damage than that is left in place for `molt audit verify` to name.
 */
import { MAX_LINE_BYTES, readEnd } from './audit-lines.js';

export interface Tail {
  /** Bytes to keep: the file is truncated to this length. */
  keep: number;
  /** The last kept line, parsed; undefined when nothing is kept or it is not JSON. */
  last: unknown;
}

const NL = 0x0a;
const FIRST_READ = 64 * 1024;
// A fragment, a bad line and the good line before them, each at most one line long.
const MOST = 3 * (MAX_LINE_BYTES + 1);

function parse(buf: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(buf.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

/**
 * Reads the tail from the window `buf`, which starts at byte `base` of the file; undefined when
 * the window does not reach far enough back to decide.
 */
function analyze(buf: Buffer, base: number): Tail | undefined {
  const whole = base === 0;
  // [start, end) of the complete line ending at the newline before `end`, if the window holds it.
  const lineBefore = (end: number): { start: number; known: boolean } => {
    const nl = end < 2 ? -1 : buf.lastIndexOf(NL, end - 2);
    return { start: nl + 1, known: nl !== -1 || whole };
  };
  const lastNl = buf.lastIndexOf(NL);
  if (lastNl === -1) return whole ? { keep: 0, last: undefined } : undefined;
  let end = lastNl + 1;
  for (let cut = 0; ; cut++) {
    const { start, known } = lineBefore(end);
    if (!known) return undefined;
    const parsed = parse(buf.subarray(start, end - 1));
    if (parsed.ok) return { keep: base + end, last: parsed.value };
    // A second bad line is kept, with nothing to chain on.
    if (cut === 1) return { keep: base + end, last: undefined };
    end = start;
    if (end === 0) return { keep: 0, last: undefined };
  }
}

/** The tail of a non-empty log of `size` bytes. */
export async function readTail(file: string, size: number): Promise<Tail> {
  for (let want = Math.min(size, FIRST_READ); ; want = Math.min(size, want * 4, MOST)) {
    const buf = await readEnd(file, size, want);
    const tail = analyze(buf, size - buf.length);
    if (tail !== undefined) return tail;
    // Lines longer than molt writes: keep everything and start a chain after it.
    if (want === Math.min(size, MOST)) return { keep: size, last: undefined };
  }
}
