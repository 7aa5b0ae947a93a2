#!/usr/bin/env python3
"""Where the CPU of one SMTP message goes, stage by stage, from a perf profile of the server.

Reads `perf script -F comm,tid,ip,sym` output (recorded with DWARF call graphs, so that the
async frames are visible) on stdin and puts each sample in the first stage whose frames it
contains; with CPU_MS_PER_MSG (measured by smtp-throughput in a run without perf) each share
is also given in ms per message. See BENCH.md, "SMTP: one commit per message". Usage:

  perf record -F 2000 --call-graph dwarf,16384 -p $TERN_PID -o perf.data -- sleep 2
  perf script -i perf.data -F comm,tid,ip,sym | bench/perf-stages.py [CPU_MS_PER_MSG]
"""
import collections
import sys

# (stage, frames that mark it), in order: the first match wins. Thread names decide first.
STAGES = [
    ("full-text indexer (text.db, off the commit path)", ["tern_store_sqlite::indexer"]),
    ("MIME analysis (mail-parser, structure, envelope, search text)",
     ["mail_parser::", "tern_message::mime"]),
    ("DATA: dot-unstuffing (DotReceiver)", ["DotReceiver"]),
    ("DATA: blob write + SHA-256", ["BlobWriter>::write", "sha2::", "BlobWriter>::finish"]),
    ("RCPT: directory look-up (SQLite read)", ["resolve_recipient", "is_local_domain", "read_now"]),
    ("RCPT: checks and reply", ["cmd::rcpt"]),
    ("end of DATA: trace headers, hand-off to the writer, 250",
     ["QueueStore>::accept", "cmd::body", "finish_message", "tern_message::"]),
    ("EHLO/MAIL/QUIT: parse and reply", ["cmd::ehlo", "cmd::mail", "Request::parse", "Session::command"]),
    ("close (QUIT's shutdown, drop)",
     ["poll_shutdown", "drop_in_place<tokio::net", "drop_in_place<alloc::boxed::Box<dyn tern_net::Stream"]),
    ("accept + greeting + session setup",
     ["accept4", "poll_accept", "TcpListener", "talks_before_greeting", "Session::greeting", "Session::new"]),
    ("reply writes (send syscalls, loopback TCP)", ["Conn::flush", "poll_write", "__libc_send", "__send"]),
    ("reads (recv syscalls)", ["Conn::fill", "poll_read", "recv"]),
    ("tokio workers parking and waking (epoll_wait, futex: context switches)",
     ["epoll_wait", "park_condvar", "park_internal", "futex_wait", "Context::park"]),
]


def classify(comm, frames):
    text = "\n".join(frames)
    if comm.startswith("tern-sqlite-wri"):
        if "fsync" in text:
            return "commit: writer thread, fsync (kernel)"
        if "fts5" in text:
            return "commit: writer thread, full-text index (FTS5)"
        if "content::insert" in text:
            return "commit: writer thread, stored MIME structure"
        return "commit: writer thread, SQLite (insert, append, WAL frames)"
    if comm.startswith("tern-sqlite-che"):
        return "WAL checkpoint thread"
    for stage, marks in STAGES:
        if any(m in text for m in marks):
            return stage
    return "other (runtime, timers, malloc, ...)"


def main():
    ms = float(sys.argv[1]) if len(sys.argv) > 1 else None
    counts = collections.Counter()
    comm, frames = None, []
    for line in sys.stdin:
        if not line.strip():
            if comm is not None:
                counts[classify(comm, frames)] += 1
            comm, frames = None, []
        elif line.startswith(("\t", " ")):
            frames.append(line.strip())
        else:
            comm, frames = line.split()[0], []
    if comm is not None:
        counts[classify(comm, frames)] += 1
    total = sum(counts.values())
    if not total:
        sys.exit("no samples on stdin")
    for stage, n in counts.most_common():
        share = n / total
        per_msg = f"{ms * share:6.3f} ms" if ms else ""
        print(f"{100 * share:5.1f} %  {per_msg}  {stage}")
    print(f"samples {total}")


if __name__ == "__main__":
    main()
