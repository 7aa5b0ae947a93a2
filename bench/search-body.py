#!/usr/bin/env python3
"""UID SEARCH BODY of a phrase over the whole INBOX, timed, with the server's CPU (issue 8's
"SEARCH on a body substring" row; mailbox-bench times a HEADER search only).

usage: search-body.py HOST PORT USER PASSWORD SERVER_PID [--phrase P] [--runs 5] [--label NAME]

The default phrase, five words of mailbox-bench's generated bodies in a row, is in about 2 %
of its messages: a search whose answer is small, so the time is the search's, not the
answer's. Prints one line per run with the hits, the wall time and the server's CPU.
"""
import imaplib
import time

from benchlib import cpu_of_tree, imap_parser


def main():
    ap = imap_parser(__doc__)
    ap.add_argument("--phrase", default="alpha bravo charlie delta echo")
    a = ap.parse_args()
    imap = imaplib.IMAP4(a.host, a.port)
    imap.login(a.user, a.password)
    imap.select("INBOX", readonly=True)
    for run in range(a.runs):
        c0, t0 = cpu_of_tree(a.server_pid), time.perf_counter()
        typ, data = imap.uid("SEARCH", None, "BODY", f'"{a.phrase}"')
        t1, c1 = time.perf_counter(), cpu_of_tree(a.server_pid)
        if typ != "OK":
            raise SystemExit(f"SEARCH failed: {typ} {data!r}")
        print(
            f"RUN label={a.label} run={run} op=search_body hits={len(data[0].split())} "
            f"search_body_s={t1 - t0:.4f} search_body_server_cpu_s={c1 - c0:.2f}",
            flush=True,
        )
    imap.logout()


if __name__ == "__main__":
    main()
