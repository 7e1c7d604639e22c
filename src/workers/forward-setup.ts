/**
 * What `netshard forward` needs around the engine, apart from its options and printing:
 *
 * - the kernel's view of the two interfaces (`readKernelLink`: MAC, MTU, global addresses, resolved
 *   neighbours, read once with `ip -j link/addr/neigh` inside the namespace) and the `ForwardingConfig`
 *   built from it (`forwardingConfigFromKernel`: connected routes from the addresses, the kernel's
 *   neighbours, plus the caller's routes and static neighbours, already placed on a link).
 *
 * The L2 mode (`--bridge`) takes only the MTUs from it: its workers forward with `{ kind: 'bridge' }`
 * (`bridge-forwarder.ts`), every frame from one link to the other in the worker that received it.
 *
 * Kernel configuration is read with `ip -j` (iproute2's JSON), not netlink: no netlink code or package
 * exists here, iproute2 is already required (README), and this is read once at start.
 *
 * The L3 mode's coordinator, which resolves next hops the workers do not know, is `forward-resolver.ts`.
 *
 * Thread: main. Control path.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { NetshardError } from '../errors.ts';
import { withNetns } from '../fdbased/index.ts';
import { parseIpv4, parseIpv6 } from '../tcpip/index.ts';
import type { ForwardNeighbor, ForwardRoute, ForwardingConfig } from './forwarding.ts';

// ─── the kernel's view ──────────────────────────────────────────────────────────────────────────────────

/** One interface as its namespace's kernel sees it (`readKernelLink`). */
export interface KernelLink {
  name: string;
  /** MAC, '' for a device without one (TUN). */
  mac: string;
  mtu: number;
  /** Global-scope addresses in CIDR form (`198.18.1.2/24`): they make the connected routes. */
  addresses: string[];
  /**
   * Resolved neighbour entries (address, MAC in lower case; `permanent` for a PERMANENT entry, one set by
   * hand); FAILED and INCOMPLETE ones left out.
   */
  neighbors: { address: string; mac: string; permanent?: boolean }[];
}

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/**
 * Reads interface `name`'s MAC, MTU, global addresses and resolved neighbours with `ip -j`, run inside
 * `netns` (a name from `ip netns` or a path; default ours). Throws ERR_NETSHARD_KERNEL with `ip`'s first
 * error line (no such device, no `ip`), or what entering the namespace throws. Thread: main.
 */
export function readKernelLink(name: string, netns?: string): KernelLink {
  const link = ipJson<{ address?: string; mtu?: number; link_type?: string }>(netns, ['link', 'show', 'dev', name])[0];
  const info = ipJson<{ addr_info?: { family: string; local: string; prefixlen: number; scope: string }[] }>(netns, ['addr', 'show', 'dev', name])[0];
  const addresses: string[] = [];
  for (const a of info?.addr_info ?? []) {
    if (a.scope !== 'global') continue; // link-local addresses are never forwarded (RFC 3927, RFC 4291)
    const cidr = `${a.local}/${a.prefixlen}`;
    if (prefixOf(cidr) !== null) addresses.push(cidr);
  }
  const neighbors = ipJson<{ dst: string; lladdr?: string; state?: string[] }>(netns, ['neigh', 'show', 'dev', name])
    .filter((n) => n.lladdr !== undefined && MAC.test(n.lladdr) && !(n.state ?? []).some((s) => s === 'FAILED' || s === 'INCOMPLETE'))
    .map((n) => ({ address: n.dst, mac: n.lladdr!.toLowerCase(), permanent: (n.state ?? []).includes('PERMANENT') }));
  const mac = link?.link_type === 'ether' && link.address !== undefined ? link.address : '';
  return { name, mac, mtu: link?.mtu ?? 1500, addresses, neighbors };
}

function ipJson<T>(netns: string | undefined, args: string[]): T[] {
  try {
    // `ip` is spawned from this thread while withNetns holds it inside the namespace: it runs there.
    const text = withNetns(netns, () => execFileSync('ip', ['-j', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 }));
    return text.trim() === '' ? [] : (JSON.parse(text) as T[]);
  } catch (err) {
    if (err instanceof NetshardError) throw err;
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim().split('\n')[0];
    throw new NetshardError('ERR_NETSHARD_KERNEL', `ip ${args.join(' ')}: ${stderr || (err as Error).message}`);
  }
}

/**
 * Returns the sysctl keys ('net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding') that are 1 in `netns`:
 * that kernel forwards too, so packets may be forwarded twice. Thread: main.
 */
export function kernelForwardingKeys(netns?: string): string[] {
  const on: string[] = [];
  for (const key of ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']) {
    try {
      // /proc/sys/net is resolved in the opening thread's namespace.
      if (withNetns(netns, () => readFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, 'utf8')).trim() === '1') on.push(key);
    } catch {
      // no IPv6 in this kernel
    }
  }
  return on;
}

/**
 * Returns the index of the first link in `kernel` with an address whose subnet holds `address`, -1 when
 * none does (or `address` is not an IP address). Thread: any.
 */
export function linkOnSubnet(kernel: readonly KernelLink[], address: string): number {
  const a = addressBytes(address);
  if (a === null) return -1;
  return kernel.findIndex((k) =>
    k.addresses.some((cidr) => {
      const p = prefixOf(cidr);
      return p !== null && p.bytes.length === a.length && samePrefix(p.bytes, a, p.length);
    }),
  );
}

/**
 * Builds the workers' L3 rules for links `kernel` (index = engine link): the links' addresses (each also
 * the connected route to its subnet), `routes`, and the kernel's neighbours with `neighbors` on top (a
 * static one replaces the kernel's entry for the same link and address). Thread: any.
 */
export function forwardingConfigFromKernel(
  kernel: readonly KernelLink[],
  routes: readonly ForwardRoute[] = [],
  neighbors: readonly ForwardNeighbor[] = [],
): ForwardingConfig {
  const addresses = kernel.flatMap((k, link) => k.addresses.map((address) => ({ link, address })));
  const byKey = new Map<string, ForwardNeighbor>();
  kernel.forEach((k, link) => {
    for (const n of k.neighbors) byKey.set(`${link} ${n.address}`, { link, address: n.address, linkAddress: n.mac });
  });
  for (const n of neighbors) byKey.set(`${n.link} ${n.address}`, { ...n });
  return { addresses, routes: routes.map((r) => ({ ...r })), neighbors: [...byKey.values()] };
}

/** An address's bytes (4 or 16), or null. */
function addressBytes(text: string): Uint8Array | null {
  const v4 = parseIpv4(text);
  if (v4 >= 0) return new Uint8Array([v4 >>> 24, (v4 >>> 16) & 0xff, (v4 >>> 8) & 0xff, v4 & 0xff]);
  const bytes = new Uint8Array(16);
  return parseIpv6(text, bytes) ? bytes : null;
}

function prefixOf(cidr: string): { bytes: Uint8Array; length: number } | null {
  const slash = cidr.indexOf('/');
  if (slash < 0) return null;
  const bytes = addressBytes(cidr.slice(0, slash));
  const lengthText = cidr.slice(slash + 1);
  if (bytes === null || !/^\d{1,3}$/.test(lengthText)) return null;
  const length = Number(lengthText);
  return length <= bytes.length * 8 ? { bytes, length } : null;
}

/** Whether the first `bits` bits of `a` and `b` agree. */
function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let i = 0; i < bits; i++) if (((a[i >> 3]! ^ b[i >> 3]!) & (0x80 >> (i & 7))) !== 0) return false;
  return true;
}
