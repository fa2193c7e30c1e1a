# SPDX-License-Identifier: MIT
"""Live-tail subscribers that read nothing (bench/run.sh, scenario live):
N connections to GET /admin/v1/live with a tiny receive buffer, which take
the stream's headers and then never read, the slowest consumer there is.
Prints "connected N" once every one answered 200.  On SIGTERM it reads
what each connection has until its "skipped" summary (30 s at most) and prints what it found: attempt
events, and the attempts skipped for it ("skipped" summaries)."""

import argparse
import re
import select
import signal
import socket
import sys
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--count", type=int, default=8)
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.url)
    socks = []
    for _ in range(a.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((u.hostname, u.port))
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n"
                   "Authorization: Bearer %s\r\n\r\n" % (u.path, u.netloc, a.token)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(1)
            if not chunk:
                sys.exit("live_subscribers: the server closed the connection")
            head += chunk
        if b" 200 " not in head.split(b"\r\n")[0]:
            sys.exit("live_subscribers: %r" % head.split(b"\r\n")[0])
        socks.append(s)
    print("connected %d" % len(socks), flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        time.sleep(0.2)
    data = {s: b"" for s in socks}
    for s in socks:  # now read fast
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    # Read until each has its summary (it comes once its queue has room), 30 s at most.
    deadline = time.time() + 30
    waiting = list(socks)
    while waiting and time.time() < deadline:
        r, _, _ = select.select(waiting, [], [], 0.5)
        for s in r:
            chunk = s.recv(1 << 20)
            data[s] += chunk
            if not chunk or b"event: skipped" in data[s]:
                waiting.remove(s)
    attempts = sum(d.count(b"event: attempt\n") for d in data.values())
    skipped = sum(int(n) for d in data.values()
                  for n in re.findall(rb'"skipped":(\d+)', d))
    print("subscribers %d attempts %d skipped %d" % (len(socks), attempts, skipped), flush=True)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
