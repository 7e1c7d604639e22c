import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ARP_REPLY, ARP_REQUEST, ARP_SIZE, ArpHeader, ArpReason, encodeArp, validateArp } from '../../../src/tcpip/header/arp.ts';
import { formatIpv4, parseIpv4, parseLinkAddress } from '../../../src/tcpip/address.ts';
import { hex, toHex, viewOf } from '../../helpers/hex.ts';
import { fuzz } from './fuzz.ts';
import { ETH_ARP_REQUEST, cut, patched } from './vectors.ts';

const Arp = suite('tcpip/header/arp');
const ARP = 14; // the ARP packet starts after the Ethernet header

Arp('reads a request', () => {
  const arp = new ArpHeader().reset(viewOf(ETH_ARP_REQUEST), ARP);
  assert.is(arp.hardwareAddressSpace, 1);
  assert.is(arp.protocolAddressSpace, 0x0800);
  assert.is(arp.hardwareAddressSize, 6);
  assert.is(arp.protocolAddressSize, 4);
  assert.is(arp.op, ARP_REQUEST);
  assert.is(arp.hardwareAddressSenderOffset, ARP + 8);
  assert.is(formatIpv4(arp.protocolAddressSender), '198.18.0.1');
  assert.is(arp.hardwareAddressTargetOffset, ARP + 18);
  assert.is(formatIpv4(arp.protocolAddressTarget), '198.18.0.2');
  assert.is(toHex(ETH_ARP_REQUEST.subarray(arp.hardwareAddressSenderOffset, arp.hardwareAddressSenderOffset + 6)), '020000000001');
});

Arp('setters turn a request into a reply in place', () => {
  const bytes = cut(ETH_ARP_REQUEST, ARP, ARP + ARP_SIZE);
  const arp = new ArpHeader().reset(viewOf(bytes), 0);
  const sender = arp.protocolAddressSender;
  arp.op = ARP_REPLY;
  arp.protocolAddressSender = arp.protocolAddressTarget;
  arp.protocolAddressTarget = sender;
  assert.is(toHex(bytes), toHex(hex(`
    0001 0800 06 04      # Ethernet, IPv4, sizes 6 and 4
    0002                 # op 2 (reply)
    020000000001 c6120002  # sender hardware kept, sender IP 198.18.0.2
    000000000000 c6120001  # target hardware kept, target IP 198.18.0.1
  `)));
  const blank = new Uint8Array(ARP_SIZE);
  new ArpHeader().reset(viewOf(blank), 0).setIpv4OverEthernet();
  assert.is(toHex(blank.subarray(0, 6)), '000108000604');
});

Arp('encodeArp → validateArp reproduces the request', () => {
  const sender = new Uint8Array(6);
  assert.ok(parseLinkAddress('02:00:00:00:00:01', sender));
  const out = new Uint8Array(ARP_SIZE);
  const written = encodeArp(viewOf(out), 0, {
    op: ARP_REQUEST,
    hardwareAddressSender: sender,
    protocolAddressSender: parseIpv4('198.18.0.1'),
    hardwareAddressTarget: new Uint8Array(6),
    protocolAddressTarget: parseIpv4('198.18.0.2'),
  });
  assert.is(written, ARP_SIZE);
  assert.is(toHex(out), toHex(ETH_ARP_REQUEST.subarray(ARP, ARP + ARP_SIZE)));
  assert.is(validateArp(viewOf(out), 0, out.length), ArpReason.Ok);
});

for (const c of [
  { name: 'padded request', bytes: ETH_ARP_REQUEST, want: ArpReason.Ok },
  { name: 'exactly 28 bytes', bytes: cut(ETH_ARP_REQUEST, 0, ARP + 28), want: ArpReason.Ok },
  { name: 'reply', bytes: patched(ETH_ARP_REQUEST, ARP + 6, hex('0002')), want: ArpReason.Ok },
  { name: '27 bytes', bytes: cut(ETH_ARP_REQUEST, 0, ARP + 27), want: ArpReason.Truncated },
  { name: 'hardware type 6 (IEEE 802)', bytes: patched(ETH_ARP_REQUEST, ARP, hex('0006')), want: ArpReason.UnsupportedHardwareType },
  { name: 'hardware size 8', bytes: patched(ETH_ARP_REQUEST, ARP + 4, hex('08')), want: ArpReason.UnsupportedHardwareType },
  { name: 'protocol type IPv6', bytes: patched(ETH_ARP_REQUEST, ARP + 2, hex('86dd')), want: ArpReason.UnsupportedProtocolType },
  { name: 'protocol size 16', bytes: patched(ETH_ARP_REQUEST, ARP + 5, hex('10')), want: ArpReason.UnsupportedProtocolType },
  { name: 'op 3 (RARP request)', bytes: patched(ETH_ARP_REQUEST, ARP + 6, hex('0003')), want: ArpReason.UnsupportedOp },
  { name: 'op 0', bytes: patched(ETH_ARP_REQUEST, ARP + 6, hex('0000')), want: ArpReason.UnsupportedOp },
]) {
  Arp(`validateArp: ${c.name}`, () => {
    const got = validateArp(viewOf(c.bytes), ARP, c.bytes.length);
    assert.is(got, c.want, `validateArp(${c.name}) = ${got}, want ${c.want}`);
  });
}

Arp('fuzz: validateArp never throws and returns known reasons', () => {
  const known = new Set<number>(Object.values(ArpReason));
  const arp = new ArpHeader();
  fuzz(0xa7a7, 20_000, [cut(ETH_ARP_REQUEST, ARP), patched(ETH_ARP_REQUEST, ARP + 6, hex('0002')).slice(ARP)], (view, offset, end) => {
    const reason = validateArp(view, offset, end);
    assert.ok(known.has(reason), `unknown reason ${reason}`);
    if (reason === ArpReason.Ok) {
      arp.reset(view, offset);
      assert.ok(arp.op === ARP_REQUEST || arp.op === ARP_REPLY);
      assert.ok(arp.protocolAddressTarget >= 0 && arp.hardwareAddressTargetOffset + 6 <= end);
    }
  });
});

Arp.run();
