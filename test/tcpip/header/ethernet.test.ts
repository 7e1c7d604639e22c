import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ETHERNET_MINIMUM_SIZE,
  ETHERNET_VLAN_SIZE,
  EthernetHeader,
  EthernetReason,
  copyLinkAddress,
  encodeEthernet,
  isBroadcastLinkAddress,
  isMulticastLinkAddress,
  linkAddressEquals,
  validateEthernet,
} from '../../../src/tcpip/header/ethernet.ts';
import { IPV4_PROTOCOL_NUMBER, IPV6_PROTOCOL_NUMBER } from '../../../src/tcpip/protocols.ts';
import { parseLinkAddress } from '../../../src/tcpip/address.ts';
import { hex, toHex, viewOf } from '../../helpers/hex.ts';
import { fuzz } from './fuzz.ts';
import { ETH_ARP_REQUEST, ETH_IPV4_UDP, ETH_VLAN_IPV4_TCP_SYN, FRAMES, cut } from './vectors.ts';

const Ethernet = suite('tcpip/header/ethernet');

Ethernet('reads an untagged header', () => {
  const eth = new EthernetHeader().reset(viewOf(ETH_IPV4_UDP), 0);
  assert.is(eth.destinationAddressOffset, 0);
  assert.is(eth.sourceAddressOffset, 6);
  assert.is(eth.type, IPV4_PROTOCOL_NUMBER);
  assert.is(eth.hasVlanTag, false);
  assert.is(eth.headerLength, ETHERNET_MINIMUM_SIZE);
  assert.is(eth.payloadOffset, 14);
  assert.is(eth.vlanId, -1);
  assert.is(eth.vlanTci, -1);
  assert.is(eth.vlanPriority, -1);
  assert.is(eth.vlanDropEligible, false);
});

Ethernet('reads an 802.1Q-tagged header at an offset', () => {
  const frame = new Uint8Array(4 + ETH_VLAN_IPV4_TCP_SYN.length);
  frame.set(ETH_VLAN_IPV4_TCP_SYN, 4);
  const eth = new EthernetHeader().reset(viewOf(frame), 4);
  assert.is(eth.hasVlanTag, true);
  assert.is(eth.type, IPV4_PROTOCOL_NUMBER);
  assert.is(eth.headerLength, ETHERNET_VLAN_SIZE);
  assert.is(eth.payloadOffset, 4 + 18);
  assert.is(eth.vlanTci, 0xb064);
  assert.is(eth.vlanId, 100);
  assert.is(eth.vlanPriority, 5);
  assert.is(eth.vlanDropEligible, true);
  assert.is(eth.destinationAddressOffset, 4);
  assert.is(eth.sourceAddressOffset, 10);
});

Ethernet('setters change only their bits', () => {
  const bytes = ETH_VLAN_IPV4_TCP_SYN.slice(0, 18);
  const eth = new EthernetHeader().reset(viewOf(bytes), 0);
  eth.vlanId = 4094;
  assert.is(toHex(bytes.subarray(14, 16)), 'bffe'); // PCP 5, DEI 1 kept
  eth.vlanPriority = 0;
  assert.is(toHex(bytes.subarray(14, 16)), '1ffe');
  eth.vlanDropEligible = false;
  assert.is(toHex(bytes.subarray(14, 16)), '0ffe');
  eth.vlanDropEligible = true;
  assert.is(eth.vlanDropEligible, true);
  eth.type = IPV6_PROTOCOL_NUMBER;
  assert.is(toHex(bytes.subarray(12, 18)), '81001ffe86dd'); // inner type written, TPID kept
  const plain = ETH_IPV4_UDP.slice(0, 14);
  const untagged = new EthernetHeader().reset(viewOf(plain), 0);
  untagged.type = IPV6_PROTOCOL_NUMBER;
  assert.is(toHex(plain.subarray(12, 14)), '86dd');
});

for (const c of [
  { name: 'untagged', frame: ETH_IPV4_UDP, fields: { type: 0x0800 }, length: 14 },
  { name: 'tagged', frame: ETH_VLAN_IPV4_TCP_SYN, fields: { type: 0x0800, vlanId: 100, vlanPriority: 5, vlanDropEligible: true }, length: 18 },
  { name: 'vlanId -1 is untagged', frame: ETH_IPV4_UDP, fields: { type: 0x0800, vlanId: -1 }, length: 14 },
]) {
  Ethernet(`encodeEthernet → validateEthernet: ${c.name}`, () => {
    const destinationAddress = new Uint8Array(6);
    const sourceAddress = new Uint8Array(6);
    assert.ok(parseLinkAddress('02:00:00:00:00:02', destinationAddress));
    assert.ok(parseLinkAddress('02:00:00:00:00:01', sourceAddress));
    const out = new Uint8Array(c.length);
    const written = encodeEthernet(viewOf(out), 0, { destinationAddress, sourceAddress, ...c.fields });
    assert.is(written, c.length);
    assert.is(toHex(out), toHex(c.frame.subarray(0, c.length)));
    assert.is(validateEthernet(viewOf(out), 0, out.length), EthernetReason.Ok);
  });
}

Ethernet('address helpers compare, copy and classify', () => {
  const view = viewOf(ETH_ARP_REQUEST);
  const other = viewOf(ETH_IPV4_UDP);
  assert.ok(linkAddressEquals(view, 6, other, 6)); // both sources are 02:00:00:00:00:01
  assert.not.ok(linkAddressEquals(view, 0, other, 0));
  assert.not.ok(linkAddressEquals(other, 0, other, 6)); // differ in the last byte only
  assert.ok(isBroadcastLinkAddress(view, 0));
  assert.ok(isMulticastLinkAddress(view, 0));
  assert.not.ok(isMulticastLinkAddress(other, 0));
  assert.not.ok(isBroadcastLinkAddress(other, 0));
  assert.ok(isMulticastLinkAddress(viewOf(hex('3333ff000002')), 0));
  assert.not.ok(isBroadcastLinkAddress(viewOf(hex('ffffffffff00')), 0));
  const copy = new Uint8Array(8);
  copyLinkAddress(other, 0, viewOf(copy), 1);
  assert.is(toHex(copy), '0002000000000200');
});

for (const c of [
  { name: 'whole untagged frame', bytes: ETH_IPV4_UDP, want: EthernetReason.Ok },
  { name: 'exactly 14 bytes', bytes: cut(ETH_IPV4_UDP, 0, 14), want: EthernetReason.Ok },
  { name: 'tagged, exactly 18 bytes', bytes: cut(ETH_VLAN_IPV4_TCP_SYN, 0, 18), want: EthernetReason.Ok },
  { name: '13 bytes', bytes: cut(ETH_IPV4_UDP, 0, 13), want: EthernetReason.Truncated },
  { name: 'empty', bytes: new Uint8Array(0), want: EthernetReason.Truncated },
  { name: 'tag without its inner type', bytes: cut(ETH_VLAN_IPV4_TCP_SYN, 0, 17), want: EthernetReason.Truncated },
  {
    name: '802.1Q inside 802.1Q',
    bytes: hex('020000000002 020000000001  8100 0064  8100 0065 0800'), // dst, src, tag VID 100, tag VID 101
    want: EthernetReason.NestedVlan,
  },
  {
    name: '802.1ad inside 802.1Q',
    bytes: hex('020000000002 020000000001  8100 0064  88a8 0065 0800'),
    want: EthernetReason.NestedVlan,
  },
  { name: '802.3 length 1500', bytes: hex('020000000002 020000000001 05dc'), want: EthernetReason.NotEthernetII },
  { name: '802.3 length in a tag', bytes: hex('020000000002 020000000001 8100 0064 002e'), want: EthernetReason.NotEthernetII },
]) {
  Ethernet(`validateEthernet: ${c.name}`, () => {
    const got = validateEthernet(viewOf(c.bytes), 0, c.bytes.length);
    assert.is(got, c.want, `validateEthernet(${c.name}) = ${got}, want ${c.want}`);
  });
}

Ethernet('fuzz: validateEthernet never throws and returns known reasons', () => {
  const known = new Set<number>(Object.values(EthernetReason));
  const eth = new EthernetHeader();
  fuzz(0xe7e7, 20_000, FRAMES.filter((f) => f.ethernet).map((f) => f.bytes), (view, offset, end) => {
    const reason = validateEthernet(view, offset, end);
    assert.ok(known.has(reason), `unknown reason ${reason}`);
    if (reason === EthernetReason.Ok) {
      eth.reset(view, offset);
      assert.ok(eth.payloadOffset <= end);
      assert.ok(eth.type >= 0x0600 && eth.vlanId >= -1 && eth.vlanPriority >= -1);
    }
  });
});

Ethernet.run();
