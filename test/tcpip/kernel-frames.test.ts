/**
 * Frames the Linux kernel builds, as a source independent of our own encoders: two test namespaces
 * joined by a veth pair, an AF_PACKET capture on one end (`capture-frames.py`), and traffic that makes
 * both kernels send ARP, NDP, MLD, ICMP, UDP (whole and fragmented), TCP handshakes and resets, an
 * IPv4 header with options and an IPv6 destination-options header. A second veth pair is an 802.1Q
 * trunk for VLAN 100 (tagged by tcx eBPF, see `vlan` in the helper: this kernel family may lack VLAN
 * devices), so both kernels send tagged frames there. Every captured frame must pass the header
 * validators and `parsePacket()`, and its IP, UDP, TCP and ICMP checksums must verify with
 * `checksum.ts`; the option layouts the kernel wrote must be what our encoders write. Root only:
 * otherwise skipped with the reason printed. Namespaces (and all interfaces in them) are deleted in `finally`.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { addNetns, deleteNetns, ip, netnsUnavailableReason, uniqueName } from '../helpers/netns.ts';
import { hex, toHex, viewOf } from '../helpers/hex.ts';
import {
  ARP_REPLY,
  ARP_REQUEST,
  ArpHeader,
  ArpReason,
  EthernetReason,
  ICMPV4_DST_UNREACHABLE,
  ICMPV4_ECHO,
  ICMPV4_ECHO_REPLY,
  ICMPV4_PORT_UNREACHABLE,
  ICMPV6_DST_UNREACHABLE,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_MULTICAST_LISTENER_V2_REPORT,
  ICMPV6_NEIGHBOR_ADVERT,
  ICMPV6_NEIGHBOR_SOLICIT,
  IPV4_OPTION_RECORD_ROUTE,
  IPV6_DESTINATION_OPTIONS_HEADER,
  IPV6_HOP_BY_HOP_OPTIONS_HEADER,
  EthernetHeader,
  Icmpv4Reason,
  Icmpv6Reason,
  Ipv4Header,
  Ipv4Reason,
  Ipv6Chain,
  Ipv6Reason,
  TCP_FLAG_ACK,
  TCP_FLAG_RST,
  TCP_FLAG_SYN,
  TcpHeader,
  TcpOptions,
  TcpReason,
  UdpReason,
  encodeIpv6Options,
  encodeTcpOptions,
  findIpv4Option,
  parseTcpOptions,
  validateArp,
  validateEthernet,
  validateIcmpv4,
  validateIcmpv6,
  validateIpv4,
  validateTcp,
  validateUdp,
  walkIpv6,
} from '../../src/tcpip/header/index.ts';
import { FragmentKind, ParseReason, ParsedPacket, parsePacket, parseReasonName } from '../../src/tcpip/parse.ts';
import {
  checksumView,
  combineChecksums,
  decrementTtl,
  pseudoHeaderChecksumV4,
  pseudoHeaderChecksumV6View,
  rewriteIpv4Destination,
  rewriteIpv4Source,
  rewriteIpv6Address,
  rewritePort,
  checksum,
} from '../../src/tcpip/checksum.ts';
import { symmetricFlowHashIpv4, symmetricFlowHashIpv6 } from '../../src/tcpip/flow-hash.ts';
import { PacketBuffer } from '../../src/tcpip/packet-buffer.ts';
import {
  ARP_PROTOCOL_NUMBER,
  ICMPV4_PROTOCOL_NUMBER,
  ICMPV6_PROTOCOL_NUMBER,
  IPV4_PROTOCOL_NUMBER,
  IPV6_PROTOCOL_NUMBER,
  TCP_PROTOCOL_NUMBER,
  UDP_PROTOCOL_NUMBER,
} from '../../src/tcpip/protocols.ts';

const KernelFrames = suite('tcpip/kernel-frames');
const SCRIPT = fileURLToPath(new URL('./capture-frames.py', import.meta.url));
const PACKET_OUTGOING = 4; // sll_pkttype of a frame this end sent
const TP_STATUS_CSUMNOTREADY = 8; // the checksum is a pseudo-header seed left for offload
const FRAGMENTED_SIZE = 3000; // UDP payload sent over a 1500-byte MTU: three fragments
const MAX_FRAMES = 400;
const CAPTURE_SECONDS = 20; // upper bound; the test stops the capture as soon as its traffic is done
const VLAN_ID = 100;
const VLAN_A = '198.18.2.1', VLAN_B = '198.18.2.2'; // the trunk's /24, apart from the untagged 198.18.0.0/24
/** What the helper's DSTOPTS_HEADER is once the kernel filled in next header 17: hand-assembled. */
const DSTOPTS_ON_WIRE = hex(`
  11 01                    # next header 17 (UDP), length 1 (16 bytes)
  1e 08 6e65747368617264   # option 0x1e (RFC 4727 experimental, skip if unknown), 8 bytes "netshard"
  01 02 0000               # PadN: 2 zero bytes
`);

/** `vlan`: how the capture found an 802.1Q tag ("data": in the frame; "auxdata": reinserted from PACKET_AUXDATA; "": none). */
interface Frame { iface: string; pkttype: number; status: number; vlan: string; bytes: Uint8Array }

/** What one frame turned out to be, for the "seen" checks. */
interface Seen {
  frame: Frame;
  parsed: ParsedPacket;
  icmpType: number;
  icmpCode: number;
  tcpFlags: number;
  tcpOptions: TcpOptions | null;
  arpOp: number;
  ipv4HeaderLength: number;
  recordRoute: boolean;
  hopByHop: boolean;
}

function pythonReason(): string {
  try {
    execFileSync('python3', ['-c', 'import socket; socket.AF_PACKET'], { stdio: 'ignore' });
    return '';
  } catch {
    return 'python3 with AF_PACKET sockets is not available';
  }
}

/** Runs a helper subcommand in namespace `ns` and returns its stdout; bounded by a 10 s timeout. */
function helper(ns: string, ...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, 'python3', SCRIPT, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 10_000,
  });
}

/** Starts a helper subcommand in `ns` in the background; resolves once it printed "ready". */
function startHelper(ns: string, args: string[]): { child: ChildProcessWithoutNullStreams; ready: Promise<void>; done: Promise<string> } {
  const child = spawn('ip', ['netns', 'exec', ns, 'python3', SCRIPT, ...args]);
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const done = new Promise<string>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${args[0]} exited ${code}: ${err}`))));
  });
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} not ready after 10 s: ${err}`)), 10_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.startsWith('ready\n')) { clearTimeout(timer); resolve(); }
    });
    done.catch((e: unknown) => { clearTimeout(timer); reject(e); });
  });
  done.catch(() => { /* reported through `ready` or by the awaiting caller */ });
  ready.catch(() => { /* reported to whoever awaits it; never an unhandled rejection that skips `finally` */ });
  return { child, ready, done };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const frames: Frame[] = [];
const seen: Seen[] = [];
let vlanSkipReason = ''; // set when the kernel cannot tag (no tcx or eBPF): the VLAN checks print it and pass
let trunkA = ''; // A's end of the VLAN trunk
/** The bytes (i * 7) & 0xff the helper's `udp` step sends, as hex. */
const udpPayload = (size: number): string => toHex(Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff));

const skipReason = netnsUnavailableReason() || pythonReason();
if (skipReason) {
  console.log(`tcpip/kernel-frames: skipped: ${skipReason}`);
  KernelFrames.skip('kernel-made frames (needs root and python3)', () => {});
} else {
  KernelFrames('capture frames the kernel builds on a veth pair between two namespaces', async () => {
    const nsA = uniqueName('ns-kfa');
    const nsB = uniqueName('ns-kfb');
    const vethA = `kfa${process.pid}`.slice(0, 15);
    const vethB = `kfb${process.pid}`.slice(0, 15);
    trunkA = `kva${process.pid}`.slice(0, 15);
    const trunkB = `kvb${process.pid}`.slice(0, 15);
    const children: ChildProcessWithoutNullStreams[] = [];
    try {
      addNetns(nsA);
      addNetns(nsB);
      // Both ends are created inside the test namespaces: nothing appears in the root namespace.
      ip('link', 'add', vethA, 'netns', nsA, 'type', 'veth', 'peer', 'name', vethB, 'netns', nsB);
      ip('link', 'add', trunkA, 'netns', nsA, 'type', 'veth', 'peer', 'name', trunkB, 'netns', nsB);
      // Offload would leave TCP/UDP checksums as pseudo-header seeds on the wire and VLAN tags out of the
      // frame: make the kernel finish both. Ping sockets for root in A: the kernel then builds the ICMP echo requests too.
      helper(nsA, 'setup', vethA, 'net.ipv4.ping_group_range=0 2147483647');
      helper(nsB, 'setup', vethB);
      helper(nsA, 'setup', trunkA);
      helper(nsB, 'setup', trunkB);
      ip('-n', nsA, 'addr', 'add', '198.18.0.1/24', 'dev', vethA);
      ip('-n', nsB, 'addr', 'add', '198.18.0.2/24', 'dev', vethB);
      ip('-n', nsA, 'addr', 'add', '2001:2::1/64', 'dev', vethA, 'nodad');
      ip('-n', nsB, 'addr', 'add', '2001:2::2/64', 'dev', vethB, 'nodad');
      ip('-n', nsA, 'addr', 'add', `${VLAN_A}/24`, 'dev', trunkA);
      ip('-n', nsB, 'addr', 'add', `${VLAN_B}/24`, 'dev', trunkB);

      // Tag everything on the trunk before its links come up; both ends, so each kernel accepts the other's frames.
      const trunks = [startHelper(nsA, ['vlan', trunkA, String(VLAN_ID), String(CAPTURE_SECONDS)]), startHelper(nsB, ['vlan', trunkB, String(VLAN_ID), String(CAPTURE_SECONDS)])];
      children.push(...trunks.map((t) => t.child));
      for (const r of await Promise.allSettled(trunks.map((t) => t.ready))) {
        if (r.status === 'fulfilled') continue;
        const why = /unsupported: (.*)/.exec(String(r.reason))?.[1];
        if (why === undefined) throw r.reason;
        vlanSkipReason = why;
      }
      if (vlanSkipReason) console.log(`tcpip/kernel-frames: VLAN checks skipped: ${vlanSkipReason}`);

      // Capture on A's ends before the links come up, to catch the MLD reports sent on link up.
      const capture = startHelper(nsA, ['capture', `${vethA},${trunkA}`, String(MAX_FRAMES), String(CAPTURE_SECONDS)]);
      children.push(capture.child);
      await capture.ready;
      for (const [ns, dev] of [[nsA, vethA], [nsB, vethB], [nsA, trunkA], [nsB, trunkB]] as const) ip('-n', ns, 'link', 'set', dev, 'up');
      await sleep(200);

      const listener = startHelper(nsB, ['tcp-listen', '198.18.0.2', '8080', '10']);
      children.push(listener.child);
      await listener.ready;
      const steps = [
        ['udp,198.18.0.2,9,32', 'sent'], // ARP, UDP/IPv4, ICMP port unreachable
        ['udp,2001:2::2,9,32', 'sent'], // NS/NA, UDP/IPv6, ICMPv6 port unreachable
        ['ping,198.18.0.2', 'reply'],
        ['ping,198.18.0.2,rr', 'reply'], // IPv4 Record Route, echoed in the reply
        ['ping,2001:2::2', 'reply'],
        ['tcp,198.18.0.2,8080', 'connected'], // SYN, SYN-ACK, ACK, FIN...
        ['tcp,198.18.0.2,8081', 'refused'], // SYN, RST
        ['tcp,2001:2::2,8081', 'refused'],
        [`udp,198.18.0.2,9,${FRAGMENTED_SIZE}`, 'sent'], // fragmented
        [`udp,2001:2::2,9,${FRAGMENTED_SIZE}`, 'sent'],
        ['udp,2001:2::2,9,32,dstopts', 'sent'], // destination options before UDP; ICMPv6 port unreachable quoting it
        [`udp,${VLAN_B},9,32`, 'sent'], // over the trunk: tagged ARP, UDP/IPv4, ICMP port unreachable
      ] as const;
      const results = helper(nsA, 'run', ...steps.map(([step]) => step)).trim().split('\n');
      assert.equal(results, steps.map(([, want]) => want));
      assert.match(await listener.done, 'accepted');
      await sleep(300);

      capture.child.stdin.end('stop\n');
      const out = await capture.done;
      for (const t of trunks) {
        if (t.child.exitCode !== null) continue; // exited "unsupported"
        t.child.stdin.end('stop\n');
        assert.match(await t.done, 'detached');
      }
      for (const line of out.split('\n').slice(1)) {
        if (!line) continue;
        const f = JSON.parse(line) as { iface: string; pkttype: number; status: number; vlan: string; hex: string };
        frames.push({ iface: f.iface, pkttype: f.pkttype, status: f.status, vlan: f.vlan, bytes: Uint8Array.from(Buffer.from(f.hex, 'hex')) });
      }
      assert.ok(frames.length > 20, `captured ${frames.length} frames`);
      assert.ok(frames.length < MAX_FRAMES, 'the capture stopped on "stop", not on its frame bound');
      assert.ok(frames.some((f) => f.pkttype === PACKET_OUTGOING), 'frames A sent');
      assert.ok(frames.some((f) => f.pkttype !== PACKET_OUTGOING), 'frames B sent');
    } finally {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill();
      deleteNetns(nsA);
      deleteNetns(nsB);
    }
  });

  KernelFrames('every frame passes the validators and parsePacket, and its checksums verify', () => {
    const parsed = new ParsedPacket();
    const ipv4 = new Ipv4Header();
    const chain = new Ipv6Chain();
    const tcp = new TcpHeader();
    const arp = new ArpHeader();
    for (const frame of frames) {
      const view = viewOf(frame.bytes);
      const end = frame.bytes.length;
      const where = `frame ${toHex(frame.bytes.subarray(0, 64))}…`;
      assert.is(frame.status & TP_STATUS_CSUMNOTREADY, 0, `checksum left to offload: ${where}`);
      assert.is(validateEthernet(view, 0, end), EthernetReason.Ok, where);
      const reason = parsePacket(view, 0, end, true, parsed);
      assert.is(reason, ParseReason.Ok, `parsePacket: ${parseReasonName(reason)}: ${where}`);
      const net = parsed.networkOffset;
      const l4 = parsed.transportOffset;
      const s: Seen = {
        frame, parsed: Object.assign(new ParsedPacket(), parsed), icmpType: -1, icmpCode: -1, tcpFlags: -1,
        tcpOptions: null, arpOp: -1, ipv4HeaderLength: 0, recordRoute: false, hopByHop: false,
      };
      let pseudo = 0;
      switch (parsed.networkProtocol) {
        case ARP_PROTOCOL_NUMBER:
          assert.is(validateArp(view, net, end), ArpReason.Ok, where);
          s.arpOp = arp.reset(view, net).op;
          seen.push(s);
          continue;
        case IPV4_PROTOCOL_NUMBER:
          assert.is(validateIpv4(view, net, end), Ipv4Reason.Ok, where);
          ipv4.reset(view, net);
          s.ipv4HeaderLength = ipv4.headerLength;
          s.recordRoute = findIpv4Option(view, net, IPV4_OPTION_RECORD_ROUTE) >= 0;
          assert.is(checksumView(view, net, ipv4.headerLength), 0xffff, `IPv4 header checksum: ${where}`);
          pseudo = pseudoHeaderChecksumV4(ipv4.protocol, ipv4.sourceAddress, ipv4.destinationAddress, parsed.end - l4);
          break;
        case IPV6_PROTOCOL_NUMBER:
          assert.is(walkIpv6(view, net, end, chain), Ipv6Reason.Ok, where);
          assert.is(chain.transportOffset, l4);
          s.hopByHop = view.getUint8(net + 6) === IPV6_HOP_BY_HOP_OPTIONS_HEADER;
          pseudo = pseudoHeaderChecksumV6View(view, net + 8, net + 24, parsed.transportProtocol, parsed.end - l4);
          break;
        default:
          assert.unreachable(`network protocol ${parsed.networkProtocol}: ${where}`);
      }
      seen.push(s);
      if (parsed.fragment !== FragmentKind.None) continue; // checked once reassembled, below
      const size = parsed.end - l4;
      switch (parsed.transportProtocol) {
        case TCP_PROTOCOL_NUMBER: {
          assert.is(validateTcp(view, l4, parsed.end), TcpReason.Ok, where);
          tcp.reset(view, l4);
          s.tcpFlags = tcp.flags;
          s.tcpOptions = new TcpOptions();
          assert.is(parseTcpOptions(view, l4, s.tcpOptions), TcpReason.Ok);
          assert.is(checksumView(view, l4, size, pseudo), 0xffff, `TCP checksum: ${where}`);
          break;
        }
        case UDP_PROTOCOL_NUMBER:
          assert.is(validateUdp(view, l4, parsed.end), UdpReason.Ok, where);
          assert.is.not(view.getUint16(l4 + 6), 0, 'Linux sends UDP checksums');
          assert.is(checksumView(view, l4, size, pseudo), 0xffff, `UDP checksum: ${where}`);
          break;
        case ICMPV4_PROTOCOL_NUMBER:
          assert.is(validateIcmpv4(view, l4, parsed.end), Icmpv4Reason.Ok, where);
          s.icmpType = view.getUint8(l4);
          s.icmpCode = view.getUint8(l4 + 1);
          assert.is(checksumView(view, l4, size), 0xffff, `ICMPv4 checksum (no pseudo-header): ${where}`);
          break;
        case ICMPV6_PROTOCOL_NUMBER:
          assert.is(validateIcmpv6(view, l4, parsed.end), Icmpv6Reason.Ok, where);
          s.icmpType = view.getUint8(l4);
          s.icmpCode = view.getUint8(l4 + 1);
          assert.is(checksumView(view, l4, size, pseudo), 0xffff, `ICMPv6 checksum: ${where}`);
          break;
        default:
          assert.unreachable(`transport protocol ${parsed.transportProtocol}: ${where}`);
      }
    }
    assert.is(seen.length, frames.length);
  });

  // What the traffic above must have made the kernels send.
  const isV4 = (s: Seen): boolean => s.parsed.networkProtocol === IPV4_PROTOCOL_NUMBER;
  const isV6 = (s: Seen): boolean => s.parsed.networkProtocol === IPV6_PROTOCOL_NUMBER;
  const whole = (s: Seen): boolean => s.parsed.fragment === FragmentKind.None;
  const udp = (s: Seen): boolean => s.parsed.transportProtocol === UDP_PROTOCOL_NUMBER;
  const tcpWith = (flags: number) => (s: Seen): boolean => s.parsed.transportProtocol === TCP_PROTOCOL_NUMBER && s.tcpFlags === flags;
  const icmp4 = (type: number, code = 0) => (s: Seen): boolean => isV4(s) && s.parsed.transportProtocol === ICMPV4_PROTOCOL_NUMBER && s.icmpType === type && s.icmpCode === code;
  const icmp6 = (type: number, code = 0) => (s: Seen): boolean => isV6(s) && s.parsed.transportProtocol === ICMPV6_PROTOCOL_NUMBER && s.icmpType === type && s.icmpCode === code;
  for (const c of [
    { name: 'ARP request', test: (s: Seen) => s.arpOp === ARP_REQUEST },
    { name: 'ARP reply', test: (s: Seen) => s.arpOp === ARP_REPLY },
    { name: 'UDP over IPv4', test: (s: Seen) => isV4(s) && whole(s) && udp(s) && s.parsed.destinationPort === 9 },
    { name: 'UDP over IPv6', test: (s: Seen) => isV6(s) && whole(s) && udp(s) && s.parsed.destinationPort === 9 },
    { name: 'ICMPv4 port unreachable', test: icmp4(ICMPV4_DST_UNREACHABLE, ICMPV4_PORT_UNREACHABLE) },
    { name: 'ICMPv6 port unreachable', test: icmp6(ICMPV6_DST_UNREACHABLE, 4) },
    {
      name: 'TCP SYN with MSS, SACK permitted, timestamps and window scale',
      test: (s: Seen) => tcpWith(TCP_FLAG_SYN)(s) && s.tcpOptions !== null && s.tcpOptions.mss === 1460 &&
        s.tcpOptions.sackPermitted && s.tcpOptions.timestamp && s.tcpOptions.windowScale >= 0,
    },
    { name: 'TCP SYN-ACK with options', test: (s: Seen) => tcpWith(TCP_FLAG_SYN | TCP_FLAG_ACK)(s) && (s.tcpOptions?.mss ?? -1) > 0 },
    { name: 'TCP RST over IPv4', test: (s: Seen) => isV4(s) && tcpWith(TCP_FLAG_RST | TCP_FLAG_ACK)(s) },
    { name: 'TCP RST over IPv6', test: (s: Seen) => isV6(s) && tcpWith(TCP_FLAG_RST | TCP_FLAG_ACK)(s) },
    { name: 'ICMPv4 echo request', test: icmp4(ICMPV4_ECHO) },
    { name: 'ICMPv4 echo reply', test: icmp4(ICMPV4_ECHO_REPLY) },
    { name: 'IPv4 echo request with a Record Route option', test: (s: Seen) => icmp4(ICMPV4_ECHO)(s) && s.ipv4HeaderLength > 20 && s.recordRoute },
    { name: 'IPv4 echo reply with the Record Route option echoed', test: (s: Seen) => icmp4(ICMPV4_ECHO_REPLY)(s) && s.recordRoute },
    { name: 'ICMPv6 echo request', test: icmp6(ICMPV6_ECHO_REQUEST) },
    { name: 'ICMPv6 echo reply', test: icmp6(ICMPV6_ECHO_REPLY) },
    { name: 'NDP neighbor solicitation', test: icmp6(ICMPV6_NEIGHBOR_SOLICIT) },
    { name: 'NDP neighbor advertisement', test: icmp6(ICMPV6_NEIGHBOR_ADVERT) },
    { name: 'MLDv2 report behind a hop-by-hop options header', test: (s: Seen) => icmp6(ICMPV6_MULTICAST_LISTENER_V2_REPORT)(s) && s.hopByHop },
    { name: 'IPv4 first fragment (UDP)', test: (s: Seen) => isV4(s) && udp(s) && s.parsed.fragment === FragmentKind.First },
    { name: 'IPv4 later fragment (UDP)', test: (s: Seen) => isV4(s) && udp(s) && s.parsed.fragment === FragmentKind.NonFirst },
    { name: 'IPv6 first fragment (UDP)', test: (s: Seen) => isV6(s) && udp(s) && s.parsed.fragment === FragmentKind.First },
    { name: 'IPv6 later fragment (UDP)', test: (s: Seen) => isV6(s) && udp(s) && s.parsed.fragment === FragmentKind.NonFirst },
  ]) {
    KernelFrames(`seen: ${c.name}`, () => {
      const n = seen.filter(c.test).length;
      assert.ok(n > 0, `no ${c.name} among ${seen.length} frames`);
    });
  }

  KernelFrames('802.1Q: the kernel tagged frames on the trunk (in the data when sent, from PACKET_AUXDATA when received)', () => {
    if (vlanSkipReason) { console.log(`tcpip/kernel-frames: skipped: ${vlanSkipReason}`); return; }
    const eth = new EthernetHeader();
    const onTrunk = seen.filter((s) => s.frame.iface === trunkA);
    assert.ok(onTrunk.length > 0, 'frames on the trunk');
    for (const s of seen) {
      const where = `${s.frame.iface} ${s.frame.vlan || 'untagged'} ${toHex(s.frame.bytes.subarray(0, 40))}…`;
      if (s.frame.iface !== trunkA) { assert.is(s.frame.vlan, '', `no tag off the trunk: ${where}`); continue; }
      // Sent frames carry the tag the kernel wrote (tx VLAN offload off); received ones had it moved to auxdata.
      assert.is(s.frame.vlan, s.frame.pkttype === PACKET_OUTGOING ? 'data' : 'auxdata', where);
      eth.reset(viewOf(s.frame.bytes), 0);
      assert.ok(eth.hasVlanTag, where);
      assert.is(eth.vlanId, VLAN_ID, where);
      assert.is(eth.vlanPriority, 0, where);
      assert.is(s.parsed.vlanId, VLAN_ID, where);
      assert.is(s.parsed.networkOffset, 18, where);
    }
    const udpToB = onTrunk.filter((s) => s.frame.vlan === 'data' && isV4(s) && udp(s) && s.parsed.destinationPort === 9);
    assert.is(udpToB.length, 1, 'the UDP datagram to the trunk peer, tagged in the data');
    const d = udpToB[0]!;
    assert.is(toHex(d.frame.bytes.subarray(d.parsed.payloadOffset, d.parsed.end)), udpPayload(32), 'payload intact behind the tag');
    assert.ok(onTrunk.some((s) => s.frame.vlan === 'data' && s.arpOp === ARP_REQUEST), 'tagged ARP request sent');
    assert.ok(onTrunk.some((s) => s.frame.vlan === 'auxdata' && s.arpOp === ARP_REPLY), 'tagged ARP reply received');
    assert.ok(onTrunk.some((s) => s.frame.vlan === 'auxdata' && icmp4(ICMPV4_DST_UNREACHABLE, ICMPV4_PORT_UNREACHABLE)(s)), 'tagged ICMP port unreachable received');
  });

  KernelFrames('IPv6 destination options (IPV6_DSTOPTS): walkIpv6 reaches UDP, the payload is intact, the peer accepted it', () => {
    const chain = new Ipv6Chain();
    const sent = seen.filter((s) => isV6(s) && s.frame.pkttype === PACKET_OUTGOING &&
      s.frame.bytes[s.parsed.networkOffset + 6] === IPV6_DESTINATION_OPTIONS_HEADER);
    assert.is(sent.length, 1, 'one datagram with destination options');
    const s = sent[0]!;
    const view = viewOf(s.frame.bytes);
    const net = s.parsed.networkOffset;
    assert.is(walkIpv6(view, net, s.frame.bytes.length, chain), Ipv6Reason.Ok);
    assert.is(chain.extensionHeaders, 1);
    assert.is(chain.transportProtocol, UDP_PROTOCOL_NUMBER);
    assert.is(chain.transportOffset, net + 40 + DSTOPTS_ON_WIRE.length);
    assert.is(toHex(s.frame.bytes.subarray(net + 40, chain.transportOffset)), toHex(DSTOPTS_ON_WIRE), 'the header as the kernel sent it');
    assert.is(s.parsed.destinationPort, 9);
    assert.is(toHex(s.frame.bytes.subarray(s.parsed.payloadOffset, s.parsed.end)), udpPayload(32), 'payload intact');
    // Our encoder writes the same header (the kernel only filled in next header and kept the rest).
    const ours = new Uint8Array(DSTOPTS_ON_WIRE.length);
    assert.is(encodeIpv6Options(viewOf(ours), 0, { nextHeader: UDP_PROTOCOL_NUMBER, options: [{ type: 0x1e, data: new TextEncoder().encode('netshard') }] }), 16);
    assert.is(toHex(ours), toHex(DSTOPTS_ON_WIRE));
    // B's kernel parsed the options (ip6_parse_tlv checks the padding) before UDP said "port unreachable".
    const quoted = seen.filter((q) => icmp6(ICMPV6_DST_UNREACHABLE, 4)(q) &&
      q.frame.bytes[q.parsed.transportOffset + 8 + 6] === IPV6_DESTINATION_OPTIONS_HEADER);
    assert.is(quoted.length, 1, 'ICMPv6 port unreachable quoting the destination options');
  });

  KernelFrames('our encoders write the option layouts the kernel wrote: MLD hop-by-hop, TCP options', () => {
    const mld = seen.filter((s) => icmp6(ICMPV6_MULTICAST_LISTENER_V2_REPORT)(s) && s.hopByHop);
    assert.ok(mld.length > 0);
    const hopByHop = new Uint8Array(8);
    // Router alert (RFC 2711), value 0 = MLD, alignment 2n+0 (RFC 2711 §2.1).
    assert.is(encodeIpv6Options(viewOf(hopByHop), 0, { nextHeader: ICMPV6_PROTOCOL_NUMBER, options: [{ type: 5, data: new Uint8Array(2), alignment: 2 }] }), 8);
    for (const s of mld) assert.is(toHex(s.frame.bytes.subarray(s.parsed.networkOffset + 40, s.parsed.networkOffset + 48)), toHex(hopByHop));
    let segments = 0;
    for (const s of seen) {
      if (s.tcpOptions === null || s.tcpOptions.sackBlocks > 0) continue;
      const l4 = s.parsed.transportOffset;
      const kernel = s.frame.bytes.subarray(l4 + 20, s.parsed.payloadOffset);
      const ours = new Uint8Array(40);
      const n = encodeTcpOptions(viewOf(ours), 0, s.tcpOptions);
      assert.is(toHex(ours.subarray(0, n)), toHex(kernel), `TCP flags ${s.tcpFlags}`);
      segments++;
    }
    assert.ok(segments >= 6, `${segments} TCP segments compared`);
  });

  KernelFrames('fragmented UDP datagrams reassemble and their checksums verify', () => {
    const ipv4 = new Ipv4Header();
    const chain = new Ipv6Chain();
    // Key: family, source, destination, id. Value: the pieces at their offsets.
    const datagrams = new Map<string, { v6: boolean; frame: Frame; pieces: { offset: number; bytes: Uint8Array; more: boolean }[] }>();
    for (const s of seen) {
      if (s.parsed.fragment === FragmentKind.None || !udp(s)) continue;
      const view = viewOf(s.frame.bytes);
      const net = s.parsed.networkOffset;
      let offset: number, more: boolean, id: number;
      if (isV4(s)) {
        ipv4.reset(view, net);
        ({ fragmentOffset: offset, moreFragments: more, id } = ipv4);
      } else {
        assert.is(walkIpv6(view, net, s.frame.bytes.length, chain), Ipv6Reason.Ok);
        ({ fragmentOffset: offset, moreFragments: more, fragmentId: id } = chain);
      }
      const key = `${isV6(s)} ${toHex(s.frame.bytes.subarray(net + (isV6(s) ? 8 : 12), net + (isV6(s) ? 40 : 20)))} ${id}`;
      const d = datagrams.get(key) ?? { v6: isV6(s), frame: s.frame, pieces: [] };
      if (offset === 0) d.frame = s.frame;
      d.pieces.push({ offset, bytes: s.frame.bytes.slice(s.parsed.transportOffset, s.parsed.end), more });
      datagrams.set(key, d);
    }
    assert.is(datagrams.size, 2, 'one fragmented datagram per IP version');
    for (const d of datagrams.values()) {
      d.pieces.sort((a, b) => a.offset - b.offset);
      assert.ok(d.pieces.length >= 3, `${d.pieces.length} fragments of ${FRAGMENTED_SIZE + 8} bytes over MTU 1500`);
      const last = d.pieces[d.pieces.length - 1]!;
      const total = last.offset + last.bytes.length;
      const datagram = new Uint8Array(total);
      let covered = 0;
      for (const p of d.pieces) {
        assert.is(p.offset, covered, 'fragments are contiguous');
        assert.is(p.more, p !== last, 'MF on all but the last');
        datagram.set(p.bytes, p.offset);
        covered += p.bytes.length;
      }
      const view = viewOf(datagram);
      assert.is(total, FRAGMENTED_SIZE + 8);
      assert.is(view.getUint16(4), total, 'UDP length counts the whole datagram');
      assert.is(validateUdp(view, 0, total), UdpReason.Ok);
      for (let i = 0; i < FRAGMENTED_SIZE; i++) if (datagram[8 + i] !== ((i * 7) & 0xff)) assert.unreachable(`payload byte ${i}`);
      const first = viewOf(d.frame.bytes);
      const pseudo = d.v6
        ? pseudoHeaderChecksumV6View(first, 14 + 8, 14 + 24, UDP_PROTOCOL_NUMBER, total)
        : pseudoHeaderChecksumV4(UDP_PROTOCOL_NUMBER, first.getUint32(14 + 12), first.getUint32(14 + 16), total);
      assert.is(combineChecksums(pseudo, checksum(datagram, 0, total)), 0xffff, `reassembled UDP checksum (IPv${d.v6 ? 6 : 4})`);
    }
  });

  KernelFrames('incremental updates on real frames: TTL, NAT rewrites keep every checksum valid', () => {
    const parsed = new ParsedPacket();
    let rewritten = 0;
    for (const frame of frames) {
      const bytes = frame.bytes.slice();
      const view = viewOf(bytes);
      if (parsePacket(view, 0, bytes.length, true, parsed) !== ParseReason.Ok || parsed.fragment !== FragmentKind.None) continue;
      const net = parsed.networkOffset;
      const l4 = parsed.transportOffset;
      const protocol = parsed.transportProtocol;
      const ports = protocol === TCP_PROTOCOL_NUMBER || protocol === UDP_PROTOCOL_NUMBER;
      if (parsed.networkProtocol === IPV4_PROTOCOL_NUMBER) {
        const ttl = view.getUint8(net + 8);
        assert.is(decrementTtl(view, net), ttl > 1);
        rewriteIpv4Source(view, net, 0xc6130001 + rewritten);
        rewriteIpv4Destination(view, net, 0xc613fffe - rewritten);
        if (ports) assert.ok(rewritePort(view, protocol, l4, 0, 40000 + rewritten));
        const hl = (view.getUint8(net) & 0xf) * 4;
        assert.is(checksumView(view, net, hl), 0xffff, 'IPv4 header after rewrite');
        const pseudo = pseudoHeaderChecksumV4(protocol, view.getUint32(net + 12), view.getUint32(net + 16), parsed.end - l4);
        if (ports) assert.is(checksumView(view, l4, parsed.end - l4, pseudo), 0xffff, 'transport after rewrite');
        if (protocol === ICMPV4_PROTOCOL_NUMBER) assert.is(checksumView(view, l4, parsed.end - l4), 0xffff, 'ICMP untouched');
        rewritten++;
      } else if (parsed.networkProtocol === IPV6_PROTOCOL_NUMBER && (ports || protocol === ICMPV6_PROTOCOL_NUMBER)) {
        const address = Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? 0x20 : i === 1 ? 0x01 : i === 3 ? 2 : (rewritten * 13 + i) & 0xff));
        rewriteIpv6Address(view, net + 8, address, 0, protocol, l4);
        if (ports) assert.ok(rewritePort(view, protocol, l4, 2, 50000 + rewritten));
        const pseudo = pseudoHeaderChecksumV6View(view, net + 8, net + 24, protocol, parsed.end - l4);
        assert.is(checksumView(view, l4, parsed.end - l4, pseudo), 0xffff, 'IPv6 transport after rewrite');
        rewritten++;
      }
    }
    assert.ok(rewritten > 10, `rewrote ${rewritten} frames`);
  });

  KernelFrames('a TCP connection hashes alike both ways (symmetric flow hash); PacketBuffer walks every frame', () => {
    const parsed = new ParsedPacket();
    const syns = seen.filter((s) => s.parsed.transportProtocol === TCP_PROTOCOL_NUMBER && (s.tcpFlags & TCP_FLAG_SYN) !== 0);
    let pairs = 0;
    for (const a of syns) {
      for (const b of syns) {
        if (a === b || a.parsed.sourcePort !== b.parsed.destinationPort || a.parsed.destinationPort !== b.parsed.sourcePort) continue;
        const hash = (s: Seen): number =>
          (isV4(s) ? symmetricFlowHashIpv4 : symmetricFlowHashIpv6)(viewOf(s.frame.bytes), s.parsed.networkOffset, TCP_PROTOCOL_NUMBER, s.parsed.transportOffset, 0x5eed);
        assert.is(hash(a), hash(b));
        pairs++;
      }
    }
    assert.ok(pairs >= 2, 'SYN and SYN-ACK of the accepted connection');
    const rx = new PacketBuffer();
    for (const frame of frames) {
      const view = viewOf(frame.bytes);
      assert.is(parsePacket(view, 0, frame.bytes.length, true, parsed), ParseReason.Ok);
      assert.ok(rx.reset(frame.bytes, view, 0, 0, frame.bytes.length));
      assert.ok(rx.consumeLink(parsed.networkOffset));
      assert.ok(rx.capData(parsed.end - parsed.networkOffset));
      if (parsed.transportOffset < 0) { // ARP
        assert.ok(rx.consumeNetwork(rx.dataSize));
        continue;
      }
      assert.ok(rx.consumeNetwork(parsed.transportOffset - parsed.networkOffset));
      assert.ok(rx.consumeTransport(parsed.payloadOffset - parsed.transportOffset));
      assert.is(rx.dataOffset, parsed.payloadOffset);
      assert.is(rx.dataOffset + rx.dataSize, parsed.end);
    }
  });
}

KernelFrames.run();
