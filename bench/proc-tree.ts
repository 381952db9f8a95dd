/**
 * Memory of a process's descendants, read from /proc (Linux): how the bench measures a process
 * sandbox from outside, without any hook in the host. A process's children are the processes
 * whose /proc/<pid>/stat names it as parent; the sandboxes of a host that runs alone in a bench
 * child are exactly that child's descendants.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcMemory {
  pid: number;
  /** VmRSS, KB: every page resident, shared ones (the node binary's) included. */
  rss: number;
  /** RssAnon, KB: private anonymous memory, the part another process would not share. */
  anon: number;
  /** Pss from smaps_rollup, KB: shared pages divided among their sharers. */
  pss: number;
}

/** Whether this system has a /proc to read. */
export function hasProc(): boolean {
  try {
    readFileSync('/proc/self/status', 'latin1');
    return true;
  } catch {
    return false;
  }
}

/** The parent pid in /proc/<pid>/stat (field 4, after the command name in parentheses). */
function parentOf(pid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[1]);
  } catch {
    return undefined; // gone between readdir and read
  }
}

/** Every live descendant of `root` (children, their children…), by pid. */
export function descendants(root = process.pid): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = parentOf(name);
    if (ppid === undefined) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** One process's memory; undefined once it is gone. */
export function memoryOf(pid: number): ProcMemory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const field = (name: string): number => {
      const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) : Number.NaN;
    };
    let pss = Number.NaN;
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1'));
      if (m) pss = Number(m[1]);
    } catch {
      // smaps_rollup is Linux 4.14+; PSS stays unknown before it
    }
    return { pid, rss: field('VmRSS'), anon: field('RssAnon'), pss };
  } catch {
    return undefined;
  }
}
