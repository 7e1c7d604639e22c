/**
 * The worker's forwarder over the stack's own `forwardPacket()` when every link carries Ethernet:
 * MACs rewritten from static neighbors, TTL decremented, ARP / multicast / our addresses to the stack,
 * an unknown next hop to the stack unchanged (workers do not resolve), ICMP errors written for the loop
 * to send on the ingress link, outcomes counted by `ForwardReason`. Frames in memory, no threads.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ForwardReason, ParseReason, ParsedPacket, parsePacket } from '../../src/tcpip/index.ts';
import { ForwardVerdict, ForwardDecision, StackForwarder, HandoffReason, createForwarder, validateNeighborChanges, type ForwardLink } from '../../src/workers/index.ts';
import { hex, toHex } from '../helpers/hex.ts';
import { throwsNetshard } from '../ring/fixtures/throws.ts';
import { ARP, TCP6, ipv4ChecksumOk, udp4 } from './fixtures/packets.ts';

const Stack = suite('workers/stack-forwarder');

const LINKS: ForwardLink[] = [
  { ethernetHeader: true, linkAddress: '02:00:00:00:00:0a', mtu: 1500 },
  { ethernetHeader: true, linkAddress: '02:00:00:00:00:0b', mtu: 1500 },
];
const counters = new Float64Array(32);
const forwarder = createForwarder(
  {
    addresses: [
      { link: 0, address: '198.18.0.1/24' },
      { link: 1, address: '198.18.1.1/24' },
      { link: 0, address: '2001:2::1/64' },
      { link: 1, address: '2001:2:0:1::1/64' },
    ],
    neighbors: [
      { link: 1, address: '198.18.1.9', linkAddress: '02:00:00:00:00:99' },
      { link: 1, address: '2001:2:0:1::9', linkAddress: '02:00:00:00:00:69' },
    ],
  },
  LINKS,
  counters,
)!;

const ip = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
/** An Ethernet frame from 02:00:00:00:00:02 to `destination` (hex MAC) carrying `payload` of `type`. */
function ether(destination: string, payload: Uint8Array, type = '0800'): Uint8Array {
  return new Uint8Array([...hex(destination), ...hex('0200 0000 0002'), ...hex(type), ...payload]);
}
const TO_US = '0200 0000 000a'; // link 0's MAC
const TCP6_TO_NEIGHBOR = TCP6.slice();
TCP6_TO_NEIGHBOR.set(hex('2001 0002 0000 0001 0000 0000 0000 0009'), 24);

for (const c of [
  {
    name: 'IPv4 to a static neighbor: forwarded, MACs rewritten, TTL 63',
    frame: ether(TO_US, udp4({ destination: ip(198, 18, 1, 9) })), want: ForwardVerdict.Forward, link: 1,
    header: '020000000099 02000000000b 0800', ttl: 63, counted: ForwardReason.Forwarded,
  },
  {
    name: 'IPv6 to a static neighbor: forwarded, hop limit 63',
    frame: ether(TO_US, TCP6_TO_NEIGHBOR, '86dd'), want: ForwardVerdict.Forward, link: 1,
    header: '020000000069 02000000000b 86dd', ttl: 63, counted: ForwardReason.Forwarded,
  },
  { name: 'to our address: the stack', frame: ether(TO_US, udp4({ destination: ip(198, 18, 0, 1) })), want: ForwardVerdict.ToStack, reason: HandoffReason.Local, counted: ForwardReason.Local },
  { name: 'ARP: the stack', frame: ARP, want: ForwardVerdict.ToStack, reason: HandoffReason.Arp, counted: ForwardReason.Local },
  { name: 'link broadcast: the stack', frame: ether('ffff ffff ffff', udp4({ destination: ip(198, 18, 1, 9) })), want: ForwardVerdict.ToStack, reason: HandoffReason.LinkMulticast, counted: ForwardReason.Local },
  {
    name: 'next hop not a static neighbor: the stack resolves it, frame unchanged',
    frame: ether(TO_US, udp4({ destination: ip(198, 18, 1, 77) })), want: ForwardVerdict.ToStack, reason: HandoffReason.NoNeighbor, counted: ForwardReason.Unresolved,
  },
  { name: 'another host\'s MAC: dropped', frame: ether('0200 0000 00ee', udp4({ destination: ip(198, 18, 1, 9) })), want: ForwardVerdict.Drop, counted: ForwardReason.OtherHost },
  { name: 'no route: dropped', frame: ether(TO_US, udp4({ destination: ip(198, 19, 0, 1) })), want: ForwardVerdict.Drop, counted: ForwardReason.NoRoute },
  {
    name: 'TTL 1: dropped, ICMP time exceeded written for the ingress link',
    frame: ether(TO_US, udp4({ source: ip(198, 18, 0, 2), destination: ip(198, 18, 1, 9), ttl: 1 })), want: ForwardVerdict.Drop, counted: ForwardReason.TtlExceeded,
    icmp: { link: 0, header: '020000000002 02000000000a 0800', type: 11 },
  },
]) {
  Stack(`decide: ${c.name}`, () => {
    const memory = new Uint8Array(c.frame.length);
    memory.set(c.frame);
    const view = new DataView(memory.buffer);
    const parsed = new ParsedPacket();
    assert.is(parsePacket(view, 0, memory.length, true, parsed), ParseReason.Ok);
    const before = memory.slice();
    const counted = counters[c.counted]!;
    const out = new ForwardDecision();
    const got = forwarder.decide(view, 0, parsed, 1000, out);
    assert.is(got, c.want, `action ${got}, want ${c.want}`);
    assert.is(counters[c.counted], counted + 1, `counted as ${c.counted}`);
    if (c.want === ForwardVerdict.Forward) {
      assert.is(out.link, c.link);
      assert.equal([out.start, out.end], [0, memory.length]);
      assert.is(toHex(memory.subarray(0, 14)), toHex(hex(c.header!)));
      assert.is(memory[14 + (parsed.networkProtocol === 0x0800 ? 8 : 7)], c.ttl);
      if (parsed.networkProtocol === 0x0800) assert.ok(ipv4ChecksumOk(memory, 14));
    } else {
      assert.equal(memory, before, 'not forwarded: the frame is unchanged');
      if ('reason' in c) assert.is(out.reason, c.reason);
    }
    if ('icmp' in c && c.icmp !== undefined) {
      assert.ok(out.extraLength > 0, 'an ICMP error to send');
      assert.is(out.extraLink, c.icmp.link);
      const e = forwarder.scratch!.subarray(out.extraOffset, out.extraOffset + out.extraLength);
      assert.is(toHex(e.subarray(0, 14)), toHex(hex(c.icmp.header)));
      assert.is(e[14 + 20], c.icmp.type, 'ICMP type');
    } else {
      assert.is(out.extraLength, 0, 'nothing else to send');
    }
  });
}

Stack('createForwarder picks the stack forwarder only when every link has Ethernet and a MAC', () => {
  assert.instance(forwarder, StackForwarder);
  assert.not.instance(createForwarder({}, [LINKS[0]!, { ethernetHeader: false, linkAddress: '', mtu: 1500 }]), StackForwarder);
  throwsNetshard(
    () => createForwarder({ addresses: [{ link: 0, address: '224.0.0.1' }] }, LINKS),
    'ERR_INVALID_ARG_VALUE',
    'address 224.0.0.1 is not a unicast address',
  );
});

Stack('updateNeighbors: a learned next hop forwards in the worker until the coordinator takes it back', () => {
  const f = createForwarder({ addresses: [{ link: 0, address: '198.18.0.1/24' }, { link: 1, address: '198.18.1.1/24' }, { link: 1, address: '2001:2:0:1::1/64' }] }, LINKS)!;
  assert.instance(f, StackForwarder);
  const sf = f as StackForwarder;
  const v4 = ether(TO_US, udp4({ destination: ip(198, 18, 1, 77) }));
  const v6 = ether(TO_US, TCP6_TO_NEIGHBOR, '86dd'); // to 2001:2:0:1::9, on link 1's subnet
  const decide = (frame: Uint8Array): { verdict: number; decision: ForwardDecision; memory: Uint8Array } => {
    const memory = frame.slice();
    const view = new DataView(memory.buffer);
    const parsed = new ParsedPacket();
    assert.is(parsePacket(view, 0, memory.length, true, parsed), ParseReason.Ok);
    const decision = new ForwardDecision();
    return { verdict: sf.decide(view, 0, parsed, 1000, decision), decision, memory };
  };
  for (const frame of [v4, v6]) {
    const before = decide(frame);
    assert.is(before.verdict, ForwardVerdict.ToStack, 'unknown next hop: to the coordinator');
    assert.is(before.decision.reason, HandoffReason.NoNeighbor);
  }
  sf.updateNeighbors(validateNeighborChanges([
    { link: 1, address: '198.18.1.77', linkAddress: '02:00:00:00:00:77' },
    { link: 1, address: '2001:2:0:1::9', linkAddress: '02:00:00:00:00:69' },
  ], 2));
  for (const [frame, mac] of [[v4, '020000000077'], [v6, '020000000069']] as const) {
    const learned = decide(frame);
    assert.is(learned.verdict, ForwardVerdict.Forward, 'learned: forwarded in the worker');
    assert.is(learned.decision.link, 1);
    assert.is(toHex(learned.memory.subarray(0, 12)), toHex(hex(`${mac} 02000000000b`)));
  }
  sf.updateNeighbors([
    { link: 1, address: '198.18.1.77', linkAddress: null },
    { link: 1, address: '2001:2:0:1::9', linkAddress: null },
    { link: 1, address: '198.18.1.78', linkAddress: null }, // never known: nothing to do
  ]);
  for (const frame of [v4, v6]) {
    const removed = decide(frame);
    assert.is(removed.verdict, ForwardVerdict.ToStack, 'taken back: to the coordinator again');
    assert.is(removed.decision.reason, HandoffReason.NoNeighbor);
  }
});

Stack('destination cache: repeated packets hit it; updateNeighbors clears it, so a new MAC or a removal applies at once', () => {
  const sf = createForwarder({ addresses: [{ link: 0, address: '198.18.0.1/24' }, { link: 1, address: '198.18.1.1/24' }] }, LINKS)! as StackForwarder;
  const decide = (): { verdict: number; mac: string } => {
    const memory = ether(TO_US, udp4({ destination: ip(198, 18, 1, 77) }));
    const view = new DataView(memory.buffer);
    const parsed = new ParsedPacket();
    assert.is(parsePacket(view, 0, memory.length, true, parsed), ParseReason.Ok);
    const verdict = sf.decide(view, 0, parsed, 1000, new ForwardDecision());
    return { verdict, mac: toHex(memory.subarray(0, 6)) };
  };
  sf.updateNeighbors([{ link: 1, address: '198.18.1.77', linkAddress: '02:00:00:00:00:77' }]);
  for (let i = 0; i < 3; i++) assert.equal(decide(), { verdict: ForwardVerdict.Forward, mac: '020000000077' });
  assert.is(sf.cache.hits, 2, 'the first packet fills the cache, the next two hit it');
  sf.updateNeighbors([{ link: 1, address: '198.18.1.77', linkAddress: '02:00:00:00:00:78' }]);
  assert.equal(decide(), { verdict: ForwardVerdict.Forward, mac: '020000000078' }, 'the new MAC at once');
  assert.equal(decide(), { verdict: ForwardVerdict.Forward, mac: '020000000078' });
  sf.updateNeighbors([{ link: 1, address: '198.18.1.77', linkAddress: null }]);
  assert.is(decide().verdict, ForwardVerdict.ToStack, 'removed: to the coordinator at once');
  assert.is(sf.cache.hits, 3);
});

for (const c of [
  { name: 'not an array', changes: {}, code: 'ERR_INVALID_ARG_TYPE', message: /changes/ },
  { name: 'link out of range', changes: [{ link: 2, address: '198.18.1.1', linkAddress: null }], code: 'ERR_OUT_OF_RANGE', message: /changes\[0\]\.link/ },
  { name: 'not an address', changes: [{ link: 0, address: 'host', linkAddress: null }], code: 'ERR_INVALID_ARG_VALUE', message: /changes\[0\]\.address/ },
  { name: 'bad MAC', changes: [{ link: 0, address: '198.18.1.1', linkAddress: '02:00' }], code: 'ERR_INVALID_ARG_VALUE', message: /changes\[0\]\.linkAddress/ },
  { name: 'unknown key', changes: [{ link: 0, address: '198.18.1.1', linkAddress: null, ttl: 3 }], code: 'ERR_INVALID_ARG_VALUE', message: /ttl/ },
]) {
  Stack(`validateNeighborChanges: ${c.name}`, () => {
    try {
      validateNeighborChanges(c.changes, 2);
      assert.unreachable('should throw');
    } catch (err) {
      assert.is((err as { code?: string }).code, c.code, String(err));
      assert.match((err as Error).message, c.message);
    }
  });
}

Stack.run();
