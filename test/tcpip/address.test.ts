import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatIpv4, formatIpv6, formatLinkAddress, parseIpv4, parseIpv6, parseLinkAddress } from '../../src/tcpip/address.ts';
import { toHex } from '../helpers/hex.ts';

const Address = suite('tcpip/address');

for (const c of [
  { text: '198.18.0.1', want: 0xc6120001 },
  { text: '255.255.255.255', want: 0xffffffff },
  { text: '0.0.0.0', want: 0 },
  { text: '198.18.0', want: -1 },
  { text: '198.18.0.256', want: -1 },
  { text: '198.18.0.01', want: -1 },
  { text: '198.18.0.x', want: -1 },
]) {
  Address(`parseIpv4: ${c.text}`, () => {
    assert.is(parseIpv4(c.text), c.want);
    if (c.want >= 0) assert.is(formatIpv4(c.want), c.text);
  });
}

for (const c of [
  { text: '2001:2::1', bytes: '20010002000000000000000000000001', canonical: '2001:2::1' },
  { text: '::', bytes: '00000000000000000000000000000000', canonical: '::' },
  { text: '::1', bytes: '00000000000000000000000000000001', canonical: '::1' },
  { text: '2001:2:0:0:1:0:0:1', bytes: '20010002000000000001000000000001', canonical: '2001:2::1:0:0:1' },
  { text: '::ffff:198.18.0.1', bytes: '00000000000000000000ffffc6120001', canonical: '::ffff:c612:1' },
  { text: '2001:DB8:0:1:1:1:1:1', bytes: '20010db8000000010001000100010001', canonical: '2001:db8:0:1:1:1:1:1' },
  { text: '1::2::3', bytes: '', canonical: '' },
  { text: '1:2:3:4:5:6:7', bytes: '', canonical: '' },
  { text: '1:2:3:4:5:6:7:8:9', bytes: '', canonical: '' },
  { text: '12345::', bytes: '', canonical: '' },
  { text: '1:2:3:4::5:6:7:8', bytes: '', canonical: '' },
]) {
  Address(`parseIpv6: ${c.text}`, () => {
    const out = new Uint8Array(16);
    const ok = parseIpv6(c.text, out);
    assert.is(ok, c.bytes !== '');
    if (!ok) return;
    assert.is(toHex(out), c.bytes);
    assert.is(formatIpv6(out), c.canonical);
  });
}

Address('link addresses round-trip; bad ones are refused', () => {
  const out = new Uint8Array(8);
  assert.ok(parseLinkAddress('02:00:C6:12:00:01', out, 1));
  assert.is(formatLinkAddress(out, 1), '02:00:c6:12:00:01');
  assert.not.ok(parseLinkAddress('02:00:c6:12:00', out));
  assert.not.ok(parseLinkAddress('02:00:c6:12:00:zz', out));
});

Address.run();
