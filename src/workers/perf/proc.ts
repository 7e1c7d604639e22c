/**
 * CPU time from /proc for `netshard bench`: a process's user + system time (`/proc/<pid>/stat`, all its
 * threads), each of its threads' (`/proc/<pid>/task/<tid>/stat`: the coordinator is the thread whose tid is
 * the pid, the dispatch workers are other threads), and the machine's time per state (`/proc/stat`'s
 * aggregate `cpu` line: softirq is where the kernel forwards). All count in USER_HZ ticks, which Linux fixes
 * at 100 per second for userspace (`sysconf(_SC_CLK_TCK)`; proc(5)).
 *
 * Thread: main. Control path (a few small file reads per traffic point).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { NetshardError } from '../../errors.ts';

/** USER_HZ: /proc's tick length is 1/100 s on every Linux architecture userspace sees (proc(5)). */
export const USER_HZ = 100;

/** A process's CPU time in seconds (all its threads). */
export interface ProcessCpu {
  /** utime: user mode. */
  user: number;
  /** stime: kernel mode (syscalls; softirq work that ran in its context when the kernel charges it so). */
  system: number;
}

/** One thread's CPU time in seconds, from `/proc/<pid>/task/<tid>/stat`. */
export interface ThreadCpu extends ProcessCpu {
  /** Its thread id (field 1); the main thread's is the pid. */
  tid: number;
  /** Its command name (field 2, `comm`): the program's name unless the thread set its own (PR_SET_NAME). */
  comm: string;
}

/** One thread's share of a window (`threadWindow`). */
export interface ThreadBusy {
  tid: number;
  /** Its `comm` when it differs from the main thread's; else `thread-<n>`, n its 1-based place by tid among the other threads. */
  name: string;
  /** utime + stime spent inside the window. */
  cpuSeconds: number;
  /** cpuSeconds / the window's seconds: the fraction of one core it kept busy. */
  busy: number;
}

/** Every thread of a process over one window. */
export interface ThreadWindow {
  /** The window's wall-clock seconds. */
  seconds: number;
  /** The main thread (tid == pid); null when it was not in the second read. */
  main: ThreadBusy | null;
  /** The other threads of the second read, by tid. */
  others: ThreadBusy[];
  /** The busiest of `others` (the first by tid on a tie); null when there are none. */
  busiest: ThreadBusy | null;
}

/** The machine's CPU time in seconds per state, summed over all CPUs (`/proc/stat`, line `cpu`). */
export interface SystemCpu {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
}

/**
 * Parses the text of `/proc/<pid>/stat` and returns its utime and stime in seconds. The command name (field
 * 2, in parentheses) may hold spaces and ')' itself, so fields are counted after the last ')'.
 * Throws ERR_NETSHARD_PROC when the text is not such a line.
 */
export function parseProcessStat(text: string): ProcessCpu {
  const { user, system } = parseTaskStat(text);
  return { user, system };
}

/**
 * Parses the text of `/proc/<pid>/task/<tid>/stat` (the same line as `/proc/<pid>/stat`, for one thread) and
 * returns its tid, comm, utime and stime in seconds. Throws ERR_NETSHARD_PROC when the text is not such a line.
 */
export function parseTaskStat(text: string): ThreadCpu {
  const open = text.indexOf(' (');
  const close = text.lastIndexOf(')');
  const fields = close < 0 ? [] : text.slice(close + 2).trim().split(/\s+/);
  // After the name: state(3) ppid(4) ... utime is field 14, stime field 15, i.e. indices 11 and 12 here.
  const tid = Number(text.slice(0, open));
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (open <= 0 || close < open || fields.length < 13 || !Number.isInteger(tid) || !Number.isInteger(utime) || !Number.isInteger(stime)) {
    throw new NetshardError('ERR_NETSHARD_PROC', `not a /proc/<pid>/stat line: '${text.slice(0, 60)}'`);
  }
  return { tid, comm: text.slice(open + 2, close), user: utime / USER_HZ, system: stime / USER_HZ };
}

/**
 * Parses the text of `/proc/stat` and returns its aggregate `cpu` line in seconds. Fields a kernel does not
 * print (old kernels stop before steal) read as 0. Throws ERR_NETSHARD_PROC when there is no `cpu` line.
 */
export function parseSystemStat(text: string): SystemCpu {
  const line = /^cpu\s+([\d\s]+)$/m.exec(text);
  if (line === null) throw new NetshardError('ERR_NETSHARD_PROC', 'no aggregate cpu line in /proc/stat');
  const v = line[1]!.trim().split(/\s+/).map((f) => Number(f) / USER_HZ);
  const at = (i: number): number => v[i] ?? 0;
  return { user: at(0), nice: at(1), system: at(2), idle: at(3), iowait: at(4), irq: at(5), softirq: at(6), steal: at(7) };
}

/** Reads process `pid`'s CPU time; null when it has exited (no /proc entry). */
export function readProcessCpu(pid: number): ProcessCpu | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  return parseProcessStat(text);
}

/**
 * Reads the CPU time of every thread of process `pid`, by tid; null when the process has exited. A thread
 * that exits between the listing and its read is left out.
 */
export function readThreadsCpu(pid: number): ThreadCpu[] | null {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  const threads: ThreadCpu[] = [];
  for (const tid of tids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // exited since the listing
    }
    threads.push(parseTaskStat(text));
  }
  return threads.sort((a, b) => a.tid - b.tid);
}

/**
 * Returns each thread's CPU time and busy fraction between two `readThreadsCpu(pid)` reads `seconds` apart.
 * A thread only in `after` started inside the window: all its time counts. A thread whose time went down is
 * a reused tid, counted the same way. A thread only in `before` exited inside the window: its last share is
 * unknown and it is left out.
 */
export function threadWindow(pid: number, before: readonly ThreadCpu[], after: readonly ThreadCpu[], seconds: number): ThreadWindow {
  const start = new Map<number, number>();
  for (const t of before) start.set(t.tid, t.user + t.system);
  const mainComm = after.find((t) => t.tid === pid)?.comm;
  let main: ThreadBusy | null = null;
  const others: ThreadBusy[] = [];
  let busiest: ThreadBusy | null = null;
  for (const t of [...after].sort((a, b) => a.tid - b.tid)) {
    const total = t.user + t.system;
    const from = start.get(t.tid);
    // In whole ticks: the reads are tick counts, and seconds / 100 differ by float noise.
    const cpuSeconds = Math.round((from !== undefined && from <= total ? total - from : total) * USER_HZ) / USER_HZ;
    const busy = seconds > 0 ? cpuSeconds / seconds : 0;
    if (t.tid === pid) {
      main = { tid: t.tid, name: t.comm, cpuSeconds, busy };
      continue;
    }
    const name = t.comm !== mainComm ? t.comm : `thread-${others.length + 1}`;
    const b: ThreadBusy = { tid: t.tid, name, cpuSeconds, busy };
    others.push(b);
    if (busiest === null || b.cpuSeconds > busiest.cpuSeconds) busiest = b;
  }
  return { seconds, main, others, busiest };
}

/** Reads the machine's CPU time per state (`/proc/stat`). Throws when /proc is not mounted. */
export function readSystemCpu(): SystemCpu {
  return parseSystemStat(readFileSync('/proc/stat', 'utf8'));
}

/** Returns `after - before` per state. */
export function systemCpuDelta(before: SystemCpu, after: SystemCpu): SystemCpu {
  return {
    user: after.user - before.user,
    nice: after.nice - before.nice,
    system: after.system - before.system,
    idle: after.idle - before.idle,
    iowait: after.iowait - before.iowait,
    irq: after.irq - before.irq,
    softirq: after.softirq - before.softirq,
    steal: after.steal - before.steal,
  };
}
