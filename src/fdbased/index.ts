/**
 * The public surface of `src/fdbased`: the link endpoint over fds (open, receive, write) and its syscall
 * layer. Other folders import fdbased only through this file.
 */
export {
  createEndpoint,
  Endpoint,
  LinkCounter,
  LINK_COUNTER_COUNT,
  type AttachOptions,
} from './endpoint.ts';
export {
  DEFAULT_ENDPOINT_OPTIONS,
  DEFAULT_GSO_MAX_SIZE,
  toLinkAddress,
  validateEndpointOptions,
  type CheckedEndpointOptions,
  type ClosedCallback,
  type EndpointOptions,
  type GsoKind,
} from './options.ts';
export {
  DispatcherCounter,
  DispatcherCounters,
  FdDispatcherBase,
  MAX_BATCH_SIZE,
  RECEIVE_EOF,
  RECEIVE_STOPPED,
  RxChecksum,
  VIRTIO_NET_HDR_SIZE,
  checkDispatcherOptions,
  prepareFd,
  type Dispatcher,
  type DispatcherOptions,
  type DispatchMode,
  type FdInfo,
  type FrameArea,
} from './dispatcher.ts';
export { createReadvDispatcher, DEFAULT_READV_BATCH, ReadvDispatcher } from './dispatch-readv.ts';
export { createRecvmmsgDispatcher, DEFAULT_RECVMMSG_BATCH, RecvmmsgDispatcher } from './dispatch-recvmmsg.ts';
export {
  createMmapDispatcher,
  DEFAULT_MMAP_BATCH,
  DEFAULT_RING_BYTES,
  DEFAULT_RING_FRAME_SIZE,
  MmapCounter,
  MmapDispatcher,
  ringGeometry,
  type MmapDispatcherOptions,
  type RingGeometry,
} from './dispatch-mmap.ts';
export { StopFd, WaitResult, stopHandle, wakeHandle, type StopHandle } from './stop-fd.ts';
export { carriesVnetHeader } from './vnet-header.ts';
export { runDispatchLoop, type DeliverFunction, type DispatchLoopOptions, type FrameSource } from './loop.ts';
export {
  ETHERNET_HEADER_SIZE,
  PacketWriter,
  SEND_BATCH_SIZE,
  TxBatch,
  TxCounter,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  type PacketWriterOptions,
} from './write.ts';
export { closeFds, openSocketPair, type SocketPairOptions, type SocketPairType } from './socketpair.ts';
export { openPacketSockets, DEFAULT_PACKET_SOCKET_OPTIONS, MAX_PACKET_SOCKETS, type PacketSocketOptions, type PacketSockets } from './open-packet.ts';
export { openTun, closeTun, DEFAULT_TUN_OPTIONS, MAX_TUN_QUEUES, type TunDevice, type TunOptions } from './open-tun.ts';
export { netnsPath, withNetns, NETNS_RUN_DIR } from './netns.ts';
/** The Linux syscall layer (constants with their C names, wrappers returning -errno). */
export * as syscalls from './syscalls.ts';
