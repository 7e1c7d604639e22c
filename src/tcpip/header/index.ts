/**
 * Wire-format header views: one file per protocol, each a reusable view class over a DataView, a
 * `validateX()` returning a reason code, and an `encodeX()` writing plain fields. Public surface of
 * `src/tcpip/header/`; `src/tcpip/index.ts` re-exports it.
 */
export * from './ethernet.ts';
export * from './arp.ts';
export * from './ipv4.ts';
export * from './ipv6.ts';
export * from './tcp.ts';
export * from './udp.ts';
export * from './icmpv4.ts';
export * from './icmpv6.ts';
