#!/usr/bin/env python3
"""Helper for test/tcpip/kernel-frames.test.ts: capture frames the Linux kernel builds, and make it build them.

Run every subcommand with `ip netns exec <test namespace>`: it touches only the namespace it runs in.
Every loop is bounded in packets and seconds.

  capture IFACE[,IFACE] COUNT SECONDS
                                bind an AF_PACKET socket (ETH_P_ALL) to each IFACE (it may still be down),
                                print "ready", then collect up to COUNT frames for at most SECONDS or
                                until stdin says "stop" or closes; then print one JSON object per frame:
                                {"iface": name, "pkttype": n, "status": tp_status, "vlan": how, "hex": "..."}.
                                802.1Q tags: the kernel moves a received frame's tag out of the data before
                                any tap sees it (skb_vlan_untag() in __netif_receive_skb_core) and reports it
                                in PACKET_AUXDATA (TP_STATUS_VLAN_VALID, tp_vlan_tci, tp_vlan_tpid). Such a
                                tag is put back after the source address, as libpcap does; `vlan` then says
                                "auxdata". A tag already in the data (sent with transmit VLAN offload off)
                                gives "data"; an untagged frame "".
  setup IFACE [KEY=VALUE ...]   turn transmit checksum offload off on IFACE (SIOCETHTOOL ETHTOOL_STXCSUM 0,
                                so the kernel writes complete TCP/UDP checksums instead of a pseudo-header
                                seed) and transmit VLAN offload (ETHTOOL_SFLAGS without ETH_FLAG_TXVLAN, so
                                the kernel writes a tag into the frame before the taps see it), and write
                                each /proc/sys KEY (dots as slashes) in this namespace.
  vlan IFACE VID SECONDS        make IFACE an 802.1Q trunk for VID: a tcx egress program tags every frame
                                it sends (bpf_skb_vlan_push) and a tcx ingress program untags every frame
                                it receives (bpf_skb_vlan_pop), both eBPF assembled below and attached as
                                BPF links; print "ready", keep them until stdin says "stop" or closes or
                                SECONDS pass (closing the links detaches them). For kernels without 802.1Q
                                VLAN devices (CONFIG_VLAN_8021Q unset); needs tcx (Linux 6.6). Where the
                                kernel cannot, exits 3 with "unsupported: why" on stderr.
  tcp-listen ADDRESS PORT SECS  listen, print "ready", accept one connection, close it, print "accepted".
  run STEP ...                  run traffic steps in order (one process: python starts slowly), printing
                                one line per step; fields are comma-separated:
                                  udp,ADDRESS,PORT,SIZE[,dstopts]
                                                          one UDP datagram of SIZE bytes (fragmented above
                                                          the MTU); `dstopts` (IPv6) adds DSTOPTS_HEADER
                                                          through IPV6_DSTOPTS; prints "sent"
                                  ping,ADDRESS[,rr]       one ICMP/ICMPv6 echo through a ping socket (the kernel
                                                          fills in the checksum), waits for the reply; `rr`
                                                          adds an IPv4 Record Route option (like ping -R);
                                                          prints "reply"
                                  tcp,ADDRESS,PORT        connect once; prints "connected" or "refused"
"""
import ctypes
import fcntl
import json
import os
import platform
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
SIOCETHTOOL = 0x8946
ETHTOOL_GTXCSUM = 0x16
ETHTOOL_STXCSUM = 0x17
ETHTOOL_GFLAGS = 0x25
ETHTOOL_SFLAGS = 0x26
ETH_FLAG_TXVLAN = 1 << 7
IP_OPTIONS = 4
IPV6_DSTOPTS = 59  # linux/in6.h
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
ETH_P_8021Q = 0x8100
# A destination-options header (RFC 8200 §4.6), assembled by hand: next header (the kernel fills it in),
# length 1 (16 bytes), option 0x1e (RFC 4727 experimental; top bits 00: skip if unknown) with 8 bytes
# "netshard", then PadN of 2 zero bytes to reach 16.
DSTOPTS_HEADER = bytes.fromhex('00 01 1e08 6e65747368617264 0102 0000'.replace(' ', ''))


def family_of(address):
    return socket.AF_INET6 if ':' in address else socket.AF_INET


def capture(ifaces, count, seconds):
    sockets = {}
    for iface in ifaces:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        s.bind((iface, ETH_P_ALL))
        sockets[s] = iface
    print('ready', flush=True)
    frames = []
    deadline = time.monotonic() + seconds
    stdin_open = True
    stopping_at = None  # after "stop", drain what is already queued for a short moment
    while len(frames) < count:
        now = time.monotonic()
        limit = deadline if stopping_at is None else min(deadline, stopping_at)
        if now >= limit:
            break
        ready, _, _ = select.select(list(sockets) + ([sys.stdin] if stdin_open else []), [], [], limit - now)
        for s in ready:
            if s is sys.stdin:
                continue
            try:
                data, ancillary, _flags, address = s.recvmsg(65536, socket.CMSG_SPACE(20))
            except OSError:
                continue  # ENETDOWN once when bound before the interface came up
            status = 0
            vlan = 'data' if data[12:14] == struct.pack('!H', ETH_P_8021Q) else ''
            for level, kind, value in ancillary:
                if level == SOL_PACKET and kind == PACKET_AUXDATA and len(value) >= 20:
                    # struct tpacket_auxdata: status, len, snaplen (u32); mac, net, vlan_tci, vlan_tpid (u16)
                    status, _len, _snaplen, _mac, _net, tci, tpid = struct.unpack('IIIHHHH', value[:20])
                    if status & TP_STATUS_VLAN_VALID:
                        tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else ETH_P_8021Q
                        data = data[:12] + struct.pack('!HH', tpid, tci) + data[12:]
                        vlan = 'auxdata'
            frames.append({'iface': sockets[s], 'pkttype': address[2], 'status': status, 'vlan': vlan, 'hex': data.hex()})
            if len(frames) >= count:
                break
        if stdin_open and sys.stdin in ready:
            line = sys.stdin.readline()
            if line == '' or line.strip() == 'stop':
                stdin_open = False
                stopping_at = time.monotonic() + 0.2
    for frame in frames:
        print(json.dumps(frame))


# eBPF for `vlan` (linux/bpf.h, Documentation/bpf/standardization/instruction-set.rst).
BPF_PROG_LOAD = 5
BPF_LINK_CREATE = 28
BPF_PROG_TYPE_SCHED_CLS = 3
BPF_TCX_INGRESS = 46
BPF_TCX_EGRESS = 47
BPF_FUNC_SKB_VLAN_PUSH = 18
BPF_FUNC_SKB_VLAN_POP = 19
BPF_MOV64_IMM = 0xb7  # BPF_ALU64 | BPF_MOV | BPF_K
BPF_CALL = 0x85  # BPF_JMP | BPF_CALL
BPF_EXIT = 0x95  # BPF_JMP | BPF_EXIT
TCX_PASS = 0
NR_BPF = {'x86_64': 321, 'aarch64': 280}  # __NR_bpf


class Unsupported(Exception):
    pass


def bpf_insn(code, dst=0, imm=0):
    # struct bpf_insn: u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm (little-endian bit fields)
    return struct.pack('<BBhi', code, dst, 0, imm)


def bpf(number, command, attr):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    buffer = ctypes.create_string_buffer(attr, len(attr))
    fd = libc.syscall(ctypes.c_long(number), ctypes.c_long(command), buffer, ctypes.c_long(len(attr)))
    if fd < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return fd


def bpf_load(number, instructions):
    code = b''.join(instructions)
    keep = [ctypes.create_string_buffer(code, len(code)), ctypes.create_string_buffer(b'GPL'), ctypes.create_string_buffer(4096)]
    program, license_, log = keep
    # union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level, log_size, log_buf,
    # kern_version, prog_flags, prog_name[16], prog_ifindex, expected_attach_type
    attr = struct.pack('=IIQQIIQII16sII', BPF_PROG_TYPE_SCHED_CLS, len(code) // 8, ctypes.addressof(program),
                       ctypes.addressof(license_), 1, len(log), ctypes.addressof(log), 0, 0, b'netshard_vlan', 0, 0)
    try:
        return bpf(number, BPF_PROG_LOAD, attr.ljust(128, b'\0'))
    except OSError as e:
        raise Unsupported(f'BPF_PROG_LOAD: {e.strerror}: {log.value.decode(errors="replace").strip()}') from e


def bpf_link_tcx(number, program, ifindex, attach_type):
    # union bpf_attr for BPF_LINK_CREATE: prog_fd, target_ifindex, attach_type, flags, tcx {relative_fd, expected_revision}
    try:
        return bpf(number, BPF_LINK_CREATE, struct.pack('=IIII', program, ifindex, attach_type, 0).ljust(64, b'\0'))
    except OSError as e:
        raise Unsupported(f'BPF_LINK_CREATE tcx (Linux 6.6): {e.strerror}') from e


def vlan(iface, vid, seconds):
    number = NR_BPF.get(platform.machine())
    if number is None or sys.byteorder != 'little':
        raise Unsupported(f'no eBPF assembler here for {platform.machine()} ({sys.byteorder}-endian)')
    ifindex = socket.if_nametoindex(iface)
    push = bpf_load(number, [
        bpf_insn(BPF_MOV64_IMM, 2, socket.htons(ETH_P_8021Q)),  # r1 = skb (as called), r2 = vlan_proto (__be16)
        bpf_insn(BPF_MOV64_IMM, 3, vid),  # r3 = vlan_tci: PCP 0, DEI 0, VID
        bpf_insn(BPF_CALL, imm=BPF_FUNC_SKB_VLAN_PUSH),
        bpf_insn(BPF_MOV64_IMM, 0, TCX_PASS),
        bpf_insn(BPF_EXIT),
    ])
    pop = bpf_load(number, [
        bpf_insn(BPF_CALL, imm=BPF_FUNC_SKB_VLAN_POP),  # r1 = skb; an untagged frame is left alone
        bpf_insn(BPF_MOV64_IMM, 0, TCX_PASS),
        bpf_insn(BPF_EXIT),
    ])
    links = [bpf_link_tcx(number, push, ifindex, BPF_TCX_EGRESS), bpf_link_tcx(number, pop, ifindex, BPF_TCX_INGRESS)]
    print('ready', flush=True)
    ready, _, _ = select.select([sys.stdin], [], [], seconds)
    if ready:
        sys.stdin.readline()  # "stop", or end of input
    for fd in links + [push, pop]:
        os.close(fd)
    print('detached', flush=True)


def ethtool_value(sock, iface, command, value=0):
    data = ctypes.create_string_buffer(struct.pack('II', command, value), 8)
    ifreq = struct.pack('16sP', iface.encode(), ctypes.addressof(data)).ljust(40, b'\0')
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
    return struct.unpack('II', data.raw)[1]


def tx_offloads_off(iface):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ethtool_value(sock, iface, ETHTOOL_STXCSUM, 0)
    if ethtool_value(sock, iface, ETHTOOL_GTXCSUM) != 0:
        sys.exit(f'{iface}: tx checksum offload is still on')
    flags = ethtool_value(sock, iface, ETHTOOL_GFLAGS)
    ethtool_value(sock, iface, ETHTOOL_SFLAGS, flags & ~ETH_FLAG_TXVLAN)
    if ethtool_value(sock, iface, ETHTOOL_GFLAGS) & ETH_FLAG_TXVLAN:
        sys.exit(f'{iface}: tx VLAN offload is still on')


def sysctl(key, value):
    with open('/proc/sys/' + key.replace('.', '/'), 'w') as f:
        f.write(value)


def udp(address, port, size, dstopts):
    s = socket.socket(family_of(address), socket.SOCK_DGRAM)
    if dstopts:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_DSTOPTS, DSTOPTS_HEADER)  # needs CAP_NET_RAW
    s.sendto(bytes((i * 7) & 0xff for i in range(size)), (address, port))
    s.close()
    print('sent', flush=True)


def ping(address, record_route):
    family = family_of(address)
    s = socket.socket(family, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6 if family == socket.AF_INET6 else socket.IPPROTO_ICMP)
    if record_route:
        # Record Route (RFC 791): type 7, length 39, pointer 4, nine empty slots, then End of List.
        s.setsockopt(socket.IPPROTO_IP, IP_OPTIONS, bytes([7, 39, 4]) + bytes(36) + bytes([0]))
    s.settimeout(3)
    echo = 128 if family == socket.AF_INET6 else 8
    s.sendto(struct.pack('!BBHHH', echo, 0, 0, 0, 1) + b'netshard kernel frames', (address, 0))
    reply = s.recv(2048)  # a ping socket hands back the ICMP message only
    if reply[0] != echo + (1 if family == socket.AF_INET6 else -8):
        sys.exit(f'unexpected ICMP type {reply[0]}')
    print('reply', flush=True)


def tcp_listen(address, port, seconds):
    s = socket.socket(family_of(address), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((address, port))
    s.listen(1)
    print('ready', flush=True)
    s.settimeout(seconds)
    try:
        connection, _ = s.accept()
        connection.close()
        print('accepted', flush=True)
    except socket.timeout:
        print('timeout', flush=True)


def tcp_connect(address, port):
    s = socket.socket(family_of(address), socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((address, port))
        print('connected', flush=True)
        time.sleep(0.05)
    except ConnectionRefusedError:
        print('refused', flush=True)
    s.close()


def setup(iface, settings):
    tx_offloads_off(iface)
    for setting in settings:
        key, value = setting.split('=', 1)
        sysctl(key, value)


def run(steps):
    for step in steps:
        kind, *args = step.split(',')
        if kind == 'udp':
            udp(args[0], int(args[1]), int(args[2]), len(args) > 3 and args[3] == 'dstopts')
        elif kind == 'ping':
            ping(args[0], len(args) > 1 and args[1] == 'rr')
        elif kind == 'tcp':
            tcp_connect(args[0], int(args[1]))
        else:
            sys.exit(f'unknown step {step}')


def main(argv):
    command = argv[0] if argv else ''
    if command == 'capture':
        capture(argv[1].split(','), int(argv[2]), float(argv[3]))
    elif command == 'setup':
        setup(argv[1], argv[2:])
    elif command == 'tcp-listen':
        tcp_listen(argv[1], int(argv[2]), float(argv[3]))
    elif command == 'run':
        run(argv[1:])
    elif command == 'vlan':
        try:
            vlan(argv[1], int(argv[2]), float(argv[3]))
        except Unsupported as e:
            print(f'unsupported: {e}', file=sys.stderr)
            sys.exit(3)
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(sys.argv[1:])
