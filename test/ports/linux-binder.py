#!/usr/bin/env python3
"""Linux reference for the PortManager differential test (test/ports/linux-diff.test.ts).

Runs inside a test network namespace (`ip netns exec NS python3 linux-binder.py`). Reads lines from
stdin; each line is a JSON list of steps. Prints one JSON object per step, one per line, flushed after
each list, so a caller may drive it interactively (write a line, read len(list) lines).

Steps (every step may carry an "id"; results echo it):
  {"op": "bind", "id": 1, "family": "inet" | "inet6", "v6only": bool, "type": "dgram" | "stream",
   "reuseaddr": bool, "reuseport": bool, "device": "" | interface name, "address": str, "port": int,
   "uid": int}
      Creates a socket (as effective uid `uid`, default 0, which becomes the socket's owner), sets the
      options, binds. -> {"id", "ok": true, "port": bound port} or {"id", "ok": false, "errno": name,
      "where": call}. A failed bind closes its socket.
  {"op": "listen", "id": 2, "target": 1, "backlog": 8}   listen() on the socket of step 1.
  {"op": "close", "id": 3, "target": 1}                  close() the socket of step 1 (no-op if none).
  {"op": "reset"}                                         close every socket -> {"ok": true, "closed": n}
  {"op": "ifindex", "names": [str]}                       -> {"ok": true, "ifindex": {name: index}}
  {"op": "port_range"}                                    -> {"ok": true, "range": [low, high]}

Python's socket module is the reference here on purpose: it is a thin layer over the syscalls and shares
no code with netshard.
"""
import errno
import json
import os
import socket
import sys

SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
SO_REUSEPORT = getattr(socket, "SO_REUSEPORT", 15)
IPV6_V6ONLY = getattr(socket, "IPV6_V6ONLY", 26)

sockets = {}  # step id -> socket


def failure(step, err, where):
    return {"id": step.get("id"), "ok": False, "errno": errno.errorcode.get(err.errno, str(err.errno)), "where": where}


def do_bind(step):
    family = socket.AF_INET6 if step["family"] == "inet6" else socket.AF_INET
    kind = socket.SOCK_STREAM if step["type"] == "stream" else socket.SOCK_DGRAM
    uid = int(step.get("uid", 0))
    where = "socket"
    try:
        # sk_uid is taken from the creator's fsuid: create as `uid`, then get root back for the options
        # that need privileges (SO_BINDTODEVICE needs CAP_NET_RAW).
        if uid != 0:
            os.seteuid(uid)
        try:
            s = socket.socket(family, kind)
        finally:
            if uid != 0:
                os.seteuid(0)
    except OSError as err:
        return failure(step, err, where)
    try:
        if family == socket.AF_INET6:
            where = "setsockopt(IPV6_V6ONLY)"
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_V6ONLY, 1 if step.get("v6only") else 0)
        if step.get("reuseaddr"):
            where = "setsockopt(SO_REUSEADDR)"
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if step.get("reuseport"):
            where = "setsockopt(SO_REUSEPORT)"
            s.setsockopt(socket.SOL_SOCKET, SO_REUSEPORT, 1)
        if step.get("device"):
            where = "setsockopt(SO_BINDTODEVICE)"
            s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, step["device"].encode())
        where = "bind"
        if family == socket.AF_INET6:
            s.bind((step["address"], int(step["port"]), 0, 0))
        else:
            s.bind((step["address"], int(step["port"])))
    except OSError as err:
        s.close()
        return failure(step, err, where)
    sockets[step.get("id")] = s
    return {"id": step.get("id"), "ok": True, "port": s.getsockname()[1]}


def do_listen(step):
    s = sockets.get(step["target"])
    if s is None:
        return {"id": step.get("id"), "ok": False, "errno": "EBADF", "where": "listen"}
    try:
        s.listen(int(step.get("backlog", 8)))
    except OSError as err:
        return failure(step, err, "listen")
    return {"id": step.get("id"), "ok": True}


def do_close(step):
    s = sockets.pop(step["target"], None)
    if s is not None:
        s.close()
    return {"id": step.get("id"), "ok": True, "closed": s is not None}


def do_reset(step):
    n = len(sockets)
    for s in sockets.values():
        s.close()
    sockets.clear()
    return {"id": step.get("id"), "ok": True, "closed": n}


def do_ifindex(step):
    return {"id": step.get("id"), "ok": True, "ifindex": {n: socket.if_nametoindex(n) for n in step["names"]}}


def do_port_range(step):
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low, high = (int(x) for x in f.read().split())
    return {"id": step.get("id"), "ok": True, "range": [low, high]}


OPS = {"bind": do_bind, "listen": do_listen, "close": do_close, "reset": do_reset,
       "ifindex": do_ifindex, "port_range": do_port_range}


def run(step):
    op = OPS.get(step.get("op"))
    if op is None:
        return {"id": step.get("id"), "ok": False, "errno": "EINVAL", "where": "unknown op %r" % step.get("op")}
    return op(step)


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        steps = json.loads(line)
        if isinstance(steps, dict):
            steps = [steps]
        out = [json.dumps(run(step)) for step in steps]
        sys.stdout.write("\n".join(out) + "\n")
        sys.stdout.flush()
    do_reset({})


if __name__ == "__main__":
    main()
