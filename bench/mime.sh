#!/usr/bin/env bash
# Issue 7's figures (see BENCH.md, "Message layer"): MIME analysis alone; the realistic mix
# (70 % text, 20 % multipart/alternative, 10 % attachments of 100 KiB-2 MiB) over SMTP with 8
# sessions; each MIME bomb over SMTP (time to the reply, server memory); text search on a
# 100,000-message mailbox against a full scan. Run as root from anywhere:
#   bench/mime.sh [MIX_MESSAGES] [SEARCH_MESSAGES]      (defaults 10000 and 100000)
# With PERF=1 the mix run is also profiled and split by stage (bench/perf-stages.py).
source "$(dirname "$0")/common.sh"
MIX=${1:-10000}
SEARCH=${2:-100000}
cargo build --release -q -p tern-testkit --bin tern-mime-bench --manifest-path "$ROOT/Cargo.toml"
BENCH=$CARGO_TARGET_DIR/release/tern-mime-bench
"$BENCH" analyse --messages "$MIX"
start_tern
if [ "${PERF:-0}" = 1 ]; then
    perf record -q -F 999 --call-graph dwarf,16384 -p "$TERN_PID" -o /tmp/tern-mime.perf 2>/dev/null &
    PERF_PID=$!
fi
"$BENCH" smtp --addr 127.0.0.1:2525 --to u1@bench.test --messages "$MIX" --sessions 8 --server-pid "$TERN_PID"
if [ -n "${PERF_PID:-}" ]; then
    kill -INT "$PERF_PID"; wait "$PERF_PID" || true
    perf script -i /tmp/tern-mime.perf -F comm,tid,ip,sym 2>/dev/null | "$ROOT/bench/perf-stages.py"
fi
"$BENCH" bombs --addr 127.0.0.1:2525 --to u2@bench.test --server-pid "$TERN_PID"
kill "$TERN_PID"
rm -rf /tmp/tern-mime-search
"$BENCH" search --messages "$SEARCH" --dir /tmp/tern-mime-search
rm -rf /tmp/tern-mime-search
