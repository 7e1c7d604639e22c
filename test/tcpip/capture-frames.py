#!/usr/bin/env python3
"""Helper for test/tcpip/kernel-frames.test.ts: capture frames the Linux kernel builds, and make it build them.

Run every subcommand with `ip netns exec <test namespace>`: it touches only the namespace it runs in.
Every loop is bounded in packets and seconds.

  capture IFACE COUNT SECONDS   bind an AF_PACKET socket (ETH_P_ALL) to IFACE (it may still be down),
                                print "ready", then collect up to COUNT frames for at most SECONDS or
                                until stdin says "stop" or closes; then print one JSON object per frame:
                                {"pkttype": n, "status": tp_status, "hex": "..."}.
  setup IFACE [KEY=VALUE ...]   turn transmit checksum offload off on IFACE (SIOCETHTOOL ETHTOOL_STXCSUM 0,
                                so the kernel writes complete TCP/UDP checksums instead of a pseudo-header
                                seed) and write each /proc/sys KEY (dots as slashes) in this namespace.
  tcp-listen ADDRESS PORT SECS  listen, print "ready", accept one connection, close it, print "accepted".
  run STEP ...                  run traffic steps in order (one process: python starts slowly), printing
                                one line per step; fields are comma-separated:
                                  udp,ADDRESS,PORT,SIZE   one UDP datagram of SIZE bytes (fragmented above
                                                          the MTU); prints "sent"
                                  ping,ADDRESS[,rr]       one ICMP/ICMPv6 echo through a ping socket (the kernel
                                                          fills in the checksum), waits for the reply; `rr`
                                                          adds an IPv4 Record Route option (like ping -R);
                                                          prints "reply"
                                  tcp,ADDRESS,PORT        connect once; prints "connected" or "refused"
"""
import ctypes
import fcntl
import json
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
IP_OPTIONS = 4


def family_of(address):
    return socket.AF_INET6 if ':' in address else socket.AF_INET


def capture(iface, count, seconds):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((iface, ETH_P_ALL))
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
        ready, _, _ = select.select([s] + ([sys.stdin] if stdin_open else []), [], [], limit - now)
        if s in ready:
            try:
                data, ancillary, _flags, address = s.recvmsg(65536, socket.CMSG_SPACE(20))
            except OSError:
                continue  # ENETDOWN once when bound before the interface came up
            status = 0
            for level, kind, value in ancillary:
                if level == SOL_PACKET and kind == PACKET_AUXDATA and len(value) >= 4:
                    status = struct.unpack('I', value[:4])[0]
            frames.append({'pkttype': address[2], 'status': status, 'hex': data.hex()})
        if stdin_open and sys.stdin in ready:
            line = sys.stdin.readline()
            if line == '' or line.strip() == 'stop':
                stdin_open = False
                stopping_at = time.monotonic() + 0.2
    for frame in frames:
        print(json.dumps(frame))


def ethtool_value(sock, iface, command, value=0):
    data = ctypes.create_string_buffer(struct.pack('II', command, value), 8)
    ifreq = struct.pack('16sP', iface.encode(), ctypes.addressof(data)).ljust(40, b'\0')
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
    return struct.unpack('II', data.raw)[1]


def tx_checksum_off(iface):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ethtool_value(sock, iface, ETHTOOL_STXCSUM, 0)
    if ethtool_value(sock, iface, ETHTOOL_GTXCSUM) != 0:
        sys.exit(f'{iface}: tx checksum offload is still on')


def sysctl(key, value):
    with open('/proc/sys/' + key.replace('.', '/'), 'w') as f:
        f.write(value)


def udp(address, port, size):
    s = socket.socket(family_of(address), socket.SOCK_DGRAM)
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
    tx_checksum_off(iface)
    for setting in settings:
        key, value = setting.split('=', 1)
        sysctl(key, value)


def run(steps):
    for step in steps:
        kind, *args = step.split(',')
        if kind == 'udp':
            udp(args[0], int(args[1]), int(args[2]))
        elif kind == 'ping':
            ping(args[0], len(args) > 1 and args[1] == 'rr')
        elif kind == 'tcp':
            tcp_connect(args[0], int(args[1]))
        else:
            sys.exit(f'unknown step {step}')


def main(argv):
    command = argv[0] if argv else ''
    if command == 'capture':
        capture(argv[1], int(argv[2]), float(argv[3]))
    elif command == 'setup':
        setup(argv[1], argv[2:])
    elif command == 'tcp-listen':
        tcp_listen(argv[1], int(argv[2]), float(argv[3]))
    elif command == 'run':
        run(argv[1:])
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(sys.argv[1:])
