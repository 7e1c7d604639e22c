/**
 * Test network namespaces: created per test run with the process id in every name, always deleted.
 * Addresses come only from 198.18.0.0/15 and 2001:2::/48. Needs root (CAP_NET_ADMIN); `canUseNetns()`
 * says whether it is available and why not.
 */
import { execFileSync } from 'node:child_process';

/** Why network namespaces cannot be used here, or '' when they can. */
export function netnsUnavailableReason(): string {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root (needs CAP_NET_ADMIN to create network namespaces)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'iproute2 (`ip`) is not installed';
  }
  return '';
}

/** Runs `ip` with the given arguments; throws with its stderr on failure. */
export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs a command inside namespace `ns`. */
export function inNetns(ns: string, cmd: string, ...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Creates namespace `name` with loopback up. */
export function addNetns(name: string): void {
  ip('netns', 'add', name);
  ip('-n', name, 'link', 'set', 'lo', 'up');
}

/** Deletes namespace `name`, ignoring "does not exist". */
export function deleteNetns(name: string): void {
  try {
    ip('netns', 'del', name);
  } catch {
    /* already gone */
  }
}

/** A name unique to this process: `${prefix}-${pid}`, at most 15 chars for interface names when `short`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}`;
}

/** Sets tx checksum offload on `ifname` in `ns` (SIOCETHTOOL ETHTOOL_STXCSUM; ethtool is not installed) and returns the value read back. */
export function setTxChecksum(ns: string, ifname: string, on: boolean): number {
  const script = `
import ctypes, fcntl, socket, struct, sys
SIOCETHTOOL, GET, SET = 0x8946, 0x16, 0x17
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def ethtool(cmd, value=0):
    data = ctypes.create_string_buffer(struct.pack('II', cmd, value), 8)
    fcntl.ioctl(s.fileno(), SIOCETHTOOL, struct.pack('16sP', sys.argv[1].encode(), ctypes.addressof(data)).ljust(40, b'\\0'))
    return struct.unpack('II', data.raw)[1]
ethtool(SET, int(sys.argv[2]))
print(ethtool(GET))
`;
  return Number(execFileSync('ip', ['netns', 'exec', ns, 'python3', '-c', script, ifname, on ? '1' : '0'], { encoding: 'utf8', timeout: 10_000 }).trim());
}
