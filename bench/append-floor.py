"""The least an IMAP server can do for `mailbox-bench load`: answer each command at once and,
with --fsync, write each APPEND's literal to one file and fsync it before the OK (what
"durable before the OK" costs at the very least: one fsync per message, since the client
sends the next message only after this one's OK).

Not a server: it understands exactly the commands `mailbox-bench load` sends through Python's
imaplib (LOGIN, SELECT, SEARCH, APPEND, LOGOUT) and nothing else. Its time for a load is the
floor for any server under that client on this machine: the client's own work, the round
trips, and (with --fsync) the disk's flush.

    python3 bench/append-floor.py PORT [--fsync FILE]
"""
import argparse
import io
import os
import re
import socket
import threading

LITERAL = re.compile(rb"\{(\d+)\}\r\n$")


class QuickAckSocket(io.RawIOBase):
    """imaplib sends a literal and its CRLF in two writes: without an immediate ACK of the
    first, Nagle holds the CRLF back until the peer's delayed ACK (40 ms). Tern sets
    TCP_QUICKACK after its reads for the same reason (`tern_net::quickack`); so does this."""

    def __init__(self, conn):
        self.conn = conn

    def readable(self):
        return True

    def readinto(self, buf):
        n = self.conn.recv_into(buf)
        self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return n


class Ring:
    """A file written in full once, then overwritten in turn, each write fsynced: no block
    allocation or size change per message (the cheapest durable write, as a reused WAL is)."""

    SIZE = 64 * 1024 * 1024

    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(self.fd, bytes(self.SIZE))
        os.fsync(self.fd)
        self.offset = 0
        self.lock = threading.Lock()

    def write(self, data):
        with self.lock:
            if self.offset + len(data) > self.SIZE:
                self.offset = 0
            os.pwrite(self.fd, data, self.offset)
            os.fsync(self.fd)
            self.offset += len(data)


def serve(conn, sink):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = io.BufferedReader(QuickAckSocket(conn))
    conn.sendall(b"* OK [CAPABILITY IMAP4rev1] floor ready\r\n")
    while True:
        line = reader.readline()
        if not line:
            return
        tag, _, rest = line.partition(b" ")
        verb = rest.split(b" ", 1)[0].strip().upper()
        if verb == b"APPEND":
            size = LITERAL.search(line)
            conn.sendall(b"+ go\r\n")
            data = reader.read(int(size.group(1)))
            reader.readline()
            if sink is not None:
                sink.write(data)
            conn.sendall(tag + b" OK APPEND completed\r\n")
        elif verb == b"SELECT":
            conn.sendall(b"* 0 EXISTS\r\n" + tag + b" OK [READ-WRITE] SELECT completed\r\n")
        elif verb == b"SEARCH":
            conn.sendall(b"* SEARCH\r\n" + tag + b" OK SEARCH completed\r\n")
        elif verb == b"LOGOUT":
            conn.sendall(b"* BYE\r\n" + tag + b" OK LOGOUT completed\r\n")
            return
        else:
            conn.sendall(tag + b" OK done\r\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("port", type=int)
    ap.add_argument("--fsync", metavar="FILE", help="write each message into this file (a ring), fsync before the OK")
    a = ap.parse_args()
    sink = Ring(a.fsync) if a.fsync else None
    listener = socket.create_server(("127.0.0.1", a.port))
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, sink), daemon=True).start()


if __name__ == "__main__":
    main()
