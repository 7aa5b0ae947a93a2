#!/usr/bin/env python3
"""SELECT of a large mailbox, then FETCH 1:* (FLAGS), timed, with the server's CPU.

usage: select-bench.py HOST PORT USER PASSWORD SERVER_PID [--runs 5] [--label NAME]

Prints one line per run: the wall time of SELECT INBOX and of FETCH 1:* (FLAGS) as seen by
Python's imaplib, and the CPU the server process (SERVER_PID, its threads included) used in
each. The FETCH wall time is mostly the client parsing 100,000 answers; compare the CPU.
"""
import imaplib
import time

from benchlib import cpu_of_tree, imap_parser


def main():
    ap = imap_parser(__doc__)
    a = ap.parse_args()
    imap = imaplib.IMAP4(a.host, a.port)
    imap.login(a.user, a.password)
    for run in range(a.runs):
        c0, t0 = cpu_of_tree(a.server_pid), time.perf_counter()
        _, data = imap.select("INBOX")
        t1, c1 = time.perf_counter(), cpu_of_tree(a.server_pid)
        _, flags = imap.fetch("1:*", "(FLAGS)")
        t2, c2 = time.perf_counter(), cpu_of_tree(a.server_pid)
        print(
            f"RUN label={a.label} run={run} messages={data[0].decode()} select_s={t1 - t0:.3f} "
            f"select_server_cpu_s={c1 - c0:.2f} fetch_flags_s={t2 - t1:.3f} "
            f"fetch_flags_answers={len(flags)} fetch_flags_server_cpu_s={c2 - c1:.2f}",
            flush=True,
        )
        imap.close()
    imap.logout()


if __name__ == "__main__":
    main()
