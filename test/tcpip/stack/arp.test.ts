import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ARP_REPLY, ARP_REQUEST, encodeArp } from '../../../src/tcpip/header/arp.ts';
import { encodeEthernet } from '../../../src/tcpip/header/ethernet.ts';
import { ARP_PROTOCOL_NUMBER } from '../../../src/tcpip/protocols.ts';
import { ARP_FRAME_SIZE, ArpResult, handleArp, writeArpRequest } from '../../../src/tcpip/stack/arp.ts';
import { NeighborLookup, NeighborState, NeighborTable } from '../../../src/tcpip/stack/neighbor-table.ts';
import { NicTable, type Nic } from '../../../src/tcpip/stack/nic.ts';
import { hex, toHex, viewOf } from '../../helpers/hex.ts';
import { ETH_ARP_REQUEST } from '../header/vectors.ts';
import { MAC_A, MAC_US0, ip4, mac } from './fixtures.ts';

const Arp = suite('tcpip/stack/arp');

/** Our answer to ETH_ARP_REQUEST (who has 198.18.0.2? tell 198.18.0.1 at 02:00:00:00:00:01). */
const REPLY = hex(`
  0200 0000 0001                 # destination: the requester
  0200 0000 0002                 # source: our MAC
  0806                           # EtherType ARP
  0001 0800 0604                 # Ethernet, IPv4, sizes 6 and 4
  0002                           # op 2 (reply)
  0200 0000 0002 c612 0002       # sender: us, 198.18.0.2
  0200 0000 0001 c612 0001       # target: the requester, 198.18.0.1
`);

function setup(): { nic: Nic; neighbors: NeighborTable } {
  const nics = new NicTable();
  const nic = nics.add({ name: 'eth0', linkAddress: MAC_US0 });
  nics.addAddress(nic.id, '198.18.0.2/24');
  return { nic, neighbors: new NeighborTable(4) };
}

interface ArpFrame { op: number; ethDst?: string; sha?: string; spa: string; tpa: string; tha?: string }

/** Builds an Ethernet + ARP frame (60 bytes, padded like a real one). */
function arpFrame(f: ArpFrame): Uint8Array {
  const bytes = new Uint8Array(60);
  const view = viewOf(bytes);
  const sha = mac(f.sha ?? MAC_A);
  encodeEthernet(view, 0, { destinationAddress: mac(f.ethDst ?? 'ff:ff:ff:ff:ff:ff'), sourceAddress: sha, type: ARP_PROTOCOL_NUMBER });
  encodeArp(view, 14, { op: f.op, hardwareAddressSender: sha, protocolAddressSender: ip4(f.spa), hardwareAddressTarget: mac(f.tha ?? '00:00:00:00:00:00'), protocolAddressTarget: ip4(f.tpa) });
  return bytes;
}

function run(nic: Nic, neighbors: NeighborTable, frame: Uint8Array, out = new Uint8Array(64), now = 0): { result: ArpResult; out: Uint8Array } {
  const result = handleArp(nic, neighbors, viewOf(frame), 0, 14, frame.length, now, viewOf(out), 0);
  return { result, out };
}

Arp('a request for our address gets the exact reply and teaches us the requester (STALE)', () => {
  const { nic, neighbors } = setup();
  const { result, out } = run(nic, neighbors, ETH_ARP_REQUEST);
  assert.is(result, ArpResult.Replied);
  assert.is(toHex(out.subarray(0, ARP_FRAME_SIZE)), toHex(REPLY));
  const e = neighbors.findIpv4(nic.id, ip4('198.18.0.1'));
  assert.is(neighbors.stateOf(e), NeighborState.Stale);
  assert.is(toHex(new Uint8Array(neighbors.linkView.buffer, neighbors.linkAddressOffset(e), 6)), '020000000001');
});

Arp('the reply can be written over the request itself', () => {
  const { nic, neighbors } = setup();
  const frame = ETH_ARP_REQUEST.slice();
  const result = handleArp(nic, neighbors, viewOf(frame), 0, 14, frame.length, 0, viewOf(frame), 0);
  assert.is(result, ArpResult.Replied);
  assert.is(toHex(frame.subarray(0, ARP_FRAME_SIZE)), toHex(REPLY));
});

for (const c of [
  { name: 'a request for someone else: no reply, nothing learned', frame: { op: ARP_REQUEST, spa: '198.18.0.1', tpa: '198.18.0.99' }, want: ArpResult.Consumed, learned: false },
  { name: 'a gratuitous request (spa = tpa): no entry created', frame: { op: ARP_REQUEST, spa: '198.18.0.1', tpa: '198.18.0.1' }, want: ArpResult.Consumed, learned: false },
  { name: 'an unsolicited reply: no entry created (Linux arp_accept = 0)', frame: { op: ARP_REPLY, ethDst: MAC_US0, spa: '198.18.0.1', tpa: '198.18.0.2' }, want: ArpResult.Consumed, learned: false },
  { name: 'an RFC 5227 probe (sender 0.0.0.0): a reply, nothing learned', frame: { op: ARP_REQUEST, spa: '0.0.0.0', tpa: '198.18.0.2' }, want: ArpResult.Replied, learned: false },
  { name: 'a multicast sender MAC', frame: { op: ARP_REQUEST, sha: '01:00:5e:00:00:01', spa: '198.18.0.1', tpa: '198.18.0.2' }, want: ArpResult.BadSender, learned: false },
  { name: 'a loopback sender', frame: { op: ARP_REQUEST, spa: '127.0.0.1', tpa: '198.18.0.2' }, want: ArpResult.BadSender, learned: false },
  { name: 'a multicast sender IP', frame: { op: ARP_REQUEST, spa: '224.0.0.1', tpa: '198.18.0.2' }, want: ArpResult.BadSender, learned: false },
  { name: 'someone claims our address', frame: { op: ARP_REQUEST, sha: '02:00:00:00:00:0f', spa: '198.18.0.2', tpa: '198.18.0.2' }, want: ArpResult.AddressConflict, learned: false },
]) {
  Arp(c.name, () => {
    const { nic, neighbors } = setup();
    const out = new Uint8Array(64);
    const { result } = run(nic, neighbors, arpFrame(c.frame), out);
    assert.is(result, c.want);
    if (c.want !== ArpResult.Replied) assert.is(toHex(out), '00'.repeat(64), 'nothing written');
    assert.is(neighbors.findIpv4(nic.id, ip4('198.18.0.1')) >= 0, c.learned);
  });
}

Arp('RFC 826 merge: a request for someone else still refreshes a known sender', () => {
  const { nic, neighbors } = setup();
  run(nic, neighbors, ETH_ARP_REQUEST); // learns 198.18.0.1 at 02:00:00:00:00:01
  const { result } = run(nic, neighbors, arpFrame({ op: ARP_REQUEST, sha: '02:00:00:00:00:0a', spa: '198.18.0.1', tpa: '198.18.0.99' }));
  assert.is(result, ArpResult.Consumed);
  const e = neighbors.findIpv4(nic.id, ip4('198.18.0.1'));
  assert.is(toHex(new Uint8Array(neighbors.linkView.buffer, neighbors.linkAddressOffset(e), 6)), '02000000000a');
});

Arp('a unicast reply resolves a waiting entry as REACHABLE; a broadcast one as STALE', () => {
  for (const [ethDst, state] of [[MAC_US0, NeighborState.Reachable], ['ff:ff:ff:ff:ff:ff', NeighborState.Stale]] as const) {
    const { nic, neighbors } = setup();
    assert.is(neighbors.resolveIpv4(nic.id, ip4('198.18.0.1'), 0), NeighborLookup.PendingSolicit);
    neighbors.enqueue(neighbors.entry, 77);
    const { result } = run(nic, neighbors, arpFrame({ op: ARP_REPLY, ethDst, spa: '198.18.0.1', tpa: '198.18.0.2', tha: MAC_US0 }), undefined, 10);
    assert.is(result, ArpResult.Resolved);
    assert.is(neighbors.stateOf(neighbors.entry), state);
    assert.is(neighbors.dequeue(neighbors.entry), 77);
  }
});

Arp('a request from a neighbor we wait for: reply and resolve at once', () => {
  const { nic, neighbors } = setup();
  neighbors.resolveIpv4(nic.id, ip4('198.18.0.1'), 0);
  assert.is(run(nic, neighbors, ETH_ARP_REQUEST).result, ArpResult.RepliedResolved);
});

Arp('malformed and no-room cases', () => {
  const { nic, neighbors } = setup();
  const rarp = ETH_ARP_REQUEST.slice();
  rarp[21] = 3; // op 3 (RARP request)
  assert.is(run(nic, neighbors, rarp).result, ArpResult.Malformed);
  assert.is(handleArp(nic, neighbors, viewOf(ETH_ARP_REQUEST), 0, 14, 14 + 27, 0, viewOf(new Uint8Array(64)), 0), ArpResult.Malformed);
  assert.is(run(nic, neighbors, ETH_ARP_REQUEST, new Uint8Array(41)).result, ArpResult.NoRoom);
});

Arp('writeArpRequest: broadcast from our address on the target subnet; unicast probe', () => {
  const { nic } = setup();
  const out = new Uint8Array(50);
  assert.is(writeArpRequest(nic, ip4('198.18.0.1'), viewOf(out), 4), ARP_FRAME_SIZE);
  assert.is(toHex(out.subarray(4, 4 + ARP_FRAME_SIZE)), toHex(hex(`
    ffff ffff ffff                 # broadcast
    0200 0000 0002                 # our MAC
    0806 0001 0800 0604 0001       # ARP, Ethernet/IPv4, op 1 (request)
    0200 0000 0002 c612 0002       # sender: us, 198.18.0.2
    0000 0000 0000 c612 0001       # target: unknown, 198.18.0.1
  `)));
  assert.is(writeArpRequest(nic, ip4('198.18.0.1'), viewOf(out), 0, viewOf(mac(MAC_A)), 0), ARP_FRAME_SIZE);
  assert.is(toHex(out.subarray(0, 6)), '020000000001', 'unicast to the cached MAC');
  assert.is(writeArpRequest(nic, ip4('198.18.0.1'), viewOf(new Uint8Array(41)), 0), 0);
  const bare = new NicTable().add({ name: 'bare', linkAddress: '02:00:00:00:00:09' });
  assert.is(writeArpRequest(bare, ip4('198.18.0.1'), viewOf(out), 0), 0, 'no IPv4 address, no request');
});

Arp.run();
