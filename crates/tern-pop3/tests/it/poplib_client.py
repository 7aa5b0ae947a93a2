"""Downloads a maildrop with Python's poplib and writes each message to OUTDIR/N.eml.
Usage: poplib_client.py MODE PORT USER PASSWORD CAFILE OUTDIR, MODE = plain | stls | ssl.
Deletes every message it downloaded, then checks over a new session that none is left."""
import os
import poplib
import ssl
import sys

mode, port, user, password, cafile, outdir = sys.argv[1:7]
port = int(port)
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False  # the certificate names mx.test; we connect to 127.0.0.1


def connect():
    if mode == "ssl":
        return poplib.POP3_SSL("127.0.0.1", port, context=ctx)
    p = poplib.POP3("127.0.0.1", port)
    if mode == "stls":
        assert "STLS" in p.capa(), p.capa()
        p.stls(context=ctx)
    return p


p = connect()
p.user(user)
p.pass_(password)
count, total = p.stat()
listed = {int(n): int(size) for n, size in (line.split() for line in p.list()[1])}
assert len(listed) == count and sum(listed.values()) == total, (count, total, listed)
uidls = [line.split()[1] for line in p.uidl()[1]]
assert len(set(uidls)) == count, "UIDL values are not unique"
for n in range(1, count + 1):
    _, lines, octets = p.retr(n)
    data = b"\r\n".join(lines) + b"\r\n"
    # poplib counts octets on the wire (dot-stuffing included); the CRLF message is what LIST sized.
    assert len(data) == listed[n], (n, len(data), listed[n])
    with open(os.path.join(outdir, f"{n}.eml"), "wb") as f:
        f.write(data)
    p.dele(n)
p.quit()

p = connect()
p.user(user)
p.pass_(password)
assert p.stat() == (0, 0), p.stat()
p.quit()
print(f"poplib {mode}: {count} messages")
