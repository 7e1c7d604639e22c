/**
 * Opening fds inside another network namespace: the calling thread enters it with setns(CLONE_NEWNET),
 * runs the opener, and comes back. Sockets and TUN devices belong to the namespace they were created in
 * for their whole life, so the fds keep working from any thread afterwards. This is how tests, benches and
 * `netshard forward --netns` reach interfaces that live only inside a namespace (netshard never opens a
 * socket on the root namespace's interfaces in tests).
 *
 * Thread: any; only the calling thread moves (setns with CLONE_NEWNET is per thread), and only for the
 * duration of one synchronous call. Control path.
 */
import { NetshardError } from '../errors.ts';
import { validateString } from '../validate.ts';
import { CLONE_NEWNET, O_CLOEXEC, O_RDONLY, close, errnoError, open, setns } from './syscalls.ts';

/** Where `ip netns add NAME` puts its namespace files. */
export const NETNS_RUN_DIR = '/var/run/netns';

/**
 * Returns the path of network namespace `netns`: itself when it contains a '/', otherwise
 * `/var/run/netns/<netns>` (a name made by `ip netns add`). Throws ERR_INVALID_ARG_VALUE on '', '.', '..'.
 */
export function netnsPath(netns: string): string {
  validateString(netns, 'options.netns');
  if (netns.includes('/')) return netns;
  if (netns === '' || netns === '.' || netns === '..') {
    throw new NetshardError('ERR_INVALID_ARG_VALUE', `options.netns must be a namespace name or path, received '${netns}'`);
  }
  return `${NETNS_RUN_DIR}/${netns}`;
}

/**
 * Runs `fn` with the calling thread inside network namespace `netns` (a name or path, see `netnsPath`) and
 * returns what it returns; with `netns` undefined, just runs `fn`. The thread always returns to its own
 * namespace, also when `fn` throws. Throws ENOENT for an unknown namespace, EPERM without CAP_SYS_ADMIN,
 * and ERR_NETSHARD_NETNS_RESTORE if the way back fails (the thread is then left in `netns`).
 * Thread: any. `fn` must be synchronous (an await would run other code in the wrong namespace).
 */
export function withNetns<T>(netns: string | undefined, fn: () => T): T {
  if (netns === undefined) return fn();
  const path = netnsPath(netns);
  const self = open('/proc/thread-self/ns/net', O_RDONLY | O_CLOEXEC);
  if (self < 0) throw errnoError('open', self, '/proc/thread-self/ns/net');
  const target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    close(self);
    throw errnoError('open', target, `${path} (network namespace '${netns}')`);
  }
  const entered = setns(target, CLONE_NEWNET);
  close(target);
  if (entered < 0) {
    close(self);
    throw errnoError('setns', entered, `into ${path}`);
  }
  try {
    return fn();
  } finally {
    const back = setns(self, CLONE_NEWNET);
    close(self);
    if (back < 0) {
      // Throwing from finally replaces fn's error on purpose: a thread left in the wrong namespace matters more.
      throw new NetshardError('ERR_NETSHARD_NETNS_RESTORE', `could not return the thread from network namespace ${path}: errno ${-back}`, {
        errno: -back,
        syscall: 'setns',
      });
    }
  }
}
