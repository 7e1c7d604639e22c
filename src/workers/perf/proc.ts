/**
 * CPU time from /proc for `netshard bench`: a process's user + system time (`/proc/<pid>/stat`, all its
 * threads), and the machine's time per state (`/proc/stat`'s aggregate `cpu` line: softirq is where the
 * kernel forwards). Both count in USER_HZ ticks, which Linux fixes at 100 per second for userspace
 * (`sysconf(_SC_CLK_TCK)`; proc(5)).
 *
 * Thread: main. Control path (a few small file reads per run).
 */
import { readFileSync } from 'node:fs';
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
  const close = text.lastIndexOf(')');
  const fields = close < 0 ? [] : text.slice(close + 2).trim().split(/\s+/);
  // After the name: state(3) ppid(4) ... utime is field 14, stime field 15, i.e. indices 11 and 12 here.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (fields.length < 13 || !Number.isInteger(utime) || !Number.isInteger(stime)) {
    throw new NetshardError('ERR_NETSHARD_PROC', `not a /proc/<pid>/stat line: '${text.slice(0, 60)}'`);
  }
  return { user: utime / USER_HZ, system: stime / USER_HZ };
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
