#!/usr/bin/env bash
# Issue 8's APPEND row against its floor: `mailbox-bench load` (2,000 x 4 KiB over one
# connection, imaplib waiting for each OK) against Dovecot, Tern, and bench/append-floor.py
# without and with one fsync per message: the least any server can take under this client on
# this machine. Interleaved; prints each run and the ratios to Dovecot. Needs root.
#   bench/append-floor.sh [COUNT] [RUNS]     (default 2000 messages, 3 runs)
source "$(dirname "$0")/common.sh"
COUNT=${1:-2000}
RUNS=${2:-3}
FLOOR_DIR=$(mktemp -d)
"$SHARED/dovecot-reference-setup" >/dev/null
start_tern
python3 "$ROOT/bench/append-floor.py" 2190 & NULL_PID=$!
python3 "$ROOT/bench/append-floor.py" 2191 --fsync "$FLOOR_DIR/messages" & FSYNC_PID=$!
trap '"$SHARED/dovecot-reference-setup" stop >/dev/null; kill $TERN_PID $NULL_PID $FSYNC_PID 2>/dev/null || true; rm -rf "$FLOOR_DIR"' EXIT
sleep 0.5
load() {
    "$SHARED/mailbox-bench" load "$@" --count "$COUNT" --size 4k | sed -n 's/.*append_s=\([0-9.]*\).*/\1/p'
}
for run in $(seq 1 "$RUNS"); do
    d=$(load --imap 127.0.0.1:10143 --user test1 --password pass)
    n=$(load --imap 127.0.0.1:2190 --user floor --password pass)
    f=$(load --imap 127.0.0.1:2191 --user floor --password pass)
    t=$(load --imap 127.0.0.1:2143 --user u1@bench.test --password pass)
    python3 - "$run" "$d" "$n" "$f" "$t" <<'EOF'
import sys
run, d, n, f, t = sys.argv[1], *map(float, sys.argv[2:])
print(f"RUN {run} seconds: dovecot {d:.2f}, floor without fsync {n:.2f} ({d / n:.1f}x), "
      f"floor with fsync {f:.2f} ({d / f:.1f}x), tern {t:.2f} ({d / t:.1f}x)")
EOF
done
