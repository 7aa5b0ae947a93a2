#!/usr/bin/env bash
# Issue 8's reading and APPEND benchmark with the shared harness: APPEND of COUNT messages of
# 4 KiB over one connection (timed), then FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE), a header
# SEARCH and FETCH of every body, Tern and Dovecot on the same machine, interleaved, and a
# body SEARCH (bench/search-body.py). Needs root (Dovecot's reference setup).
#   bench/imap-vs-dovecot.sh [COUNT] [RUNS]     (default 10000 messages, 3 runs)
source "$(dirname "$0")/common.sh"
COUNT=${1:-10000}
RUNS=${2:-3}
"$SHARED/dovecot-reference-setup" >/dev/null
trap '"$SHARED/dovecot-reference-setup" stop; kill ${TERN_PID:-0} 2>/dev/null || true' EXIT
start_tern
trap '"$SHARED/dovecot-reference-setup" stop; kill $TERN_PID 2>/dev/null || true' EXIT
DOVECOT_PID=$(pgrep -o -f 'dovecot.*dovecot-ref' || pgrep -o dovecot)
time_load() {
    local start end
    start=$(date +%s.%N)
    "$SHARED/mailbox-bench" load "$@" --count "$COUNT" --size 4k >/dev/null
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}
d=$(time_load --imap 127.0.0.1:10143 --user test1 --password pass)
t=$(time_load --imap 127.0.0.1:2143 --user u1@bench.test --password pass)
echo "APPEND $COUNT x 4 KiB, one connection: dovecot ${d}s tern ${t}s"
# The reading runs start once both servers are idle: Tern indexes what was appended off the
# commit path (and Dovecot may still be writing its index), work that belongs to the load.
# Each server with its children: Dovecot indexes in processes of its own.
python3 "$ROOT/bench/benchlib.py" wait-idle "$TERN_PID"
python3 "$ROOT/bench/benchlib.py" wait-idle "$DOVECOT_PID"
for round in $(seq 1 "$RUNS"); do
    "$SHARED/mailbox-bench" imap --imap 127.0.0.1:10143 --user test1 --password pass --runs 1 \
        --label dovecot --server-pid "$DOVECOT_PID" | grep '^RUN'
    "$SHARED/mailbox-bench" imap --imap 127.0.0.1:2143 --user u1@bench.test --password pass --runs 1 \
        --label tern --server-pid "$TERN_PID" | grep '^RUN'
done
# A SEARCH on a body substring (the issue's row; mailbox-bench times a HEADER search only).
python3 "$ROOT/bench/search-body.py" 127.0.0.1 10143 test1 pass "$DOVECOT_PID" --runs "$RUNS" --label dovecot
python3 "$ROOT/bench/search-body.py" 127.0.0.1 2143 u1@bench.test pass "$TERN_PID" --runs "$RUNS" --label tern
