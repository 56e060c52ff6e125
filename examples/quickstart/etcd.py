"""Stand-in for etcd: listens on 127.0.0.1:23790 and tells herald it is ready with
sd_notify's READY=1, sent as a datagram to the unix socket named by $NOTIFY_SOCKET."""

import os
import signal
import socket
import sys
import time


def notify(message: bytes) -> None:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 23790))
    server.listen()
    time.sleep(float(os.environ.get("ETCD_DELAY", "0.3")))  # "replaying the log"
    notify(b"READY=1")
    print("etcd: serving on 127.0.0.1:23790", flush=True)
    while True:
        conn, _ = server.accept()
        conn.close()


if __name__ == "__main__":
    main()
