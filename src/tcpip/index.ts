/**
 * The public surface of src/tcpip: protocol numbers, addresses, header views, the per-packet parser,
 * checksums, flow hashes, PacketBuffer, and the stack (`stack/`). Other folders import tcpip only through this file.
 */
export * from './protocols.ts';
export * from './address.ts';
export * from './header/index.ts';
export * from './parse.ts';
export * from './checksum.ts';
export * from './flow-hash.ts';
export * from './packet-buffer.ts';
export * from './stack/index.ts';
