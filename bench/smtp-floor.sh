#!/usr/bin/env bash
# Issue 11 item 7's sink ratio against its floor: smtp-sink (the protocol alone), the same
# protocol with nothing but one group fdatasync per message before its 250
# (`tern-smtp-floor --fsync`, the least any server that keeps what it acknowledges does under
# this client on this machine), the same without the sync, and Tern. 10,000 x 4 KiB, one
# connection per message (smtp-source), interleaved round by round; prints each run and, per
# round, each server's rate as a share of the sink's. Needs root and Debian's postfix package.
#   bench/smtp-floor.sh [ROUNDS] [SESSIONS]     (default 3 rounds, 8 sessions)
source "$(dirname "$0")/common.sh"
ROUNDS=${1:-3}
SESSIONS=${2:-8}
command -v smtp-sink >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix
cargo build --release -q -p tern-testkit --bin tern-smtp-floor --manifest-path "$ROOT/Cargo.toml"
FLOOR=$CARGO_TARGET_DIR/release/tern-smtp-floor
# The floor's file on the file system of Tern's data directory (same disk, same sync cost).
FLOOR_DIR=$(mktemp -d /tmp/smtp-floor.XXXXXX)
smtp-sink -u nobody -c 127.0.0.1:10026 256 >/dev/null & SINK_PID=$!
"$FLOOR" --listen 127.0.0.1:10027 & NULL_PID=$!
"$FLOOR" --listen 127.0.0.1:10028 --fsync "$FLOOR_DIR/ring" & FSYNC_PID=$!
start_tern
trap 'kill $SINK_PID $NULL_PID $FSYNC_PID $TERN_PID 2>/dev/null || true; rm -rf "$FLOOR_DIR"' EXIT
sleep 1
RESULTS=$(mktemp)
for round in $(seq 1 "$ROUNDS"); do
    for server in "sink 10026 $SINK_PID" "floor-null 10027 $NULL_PID" \
                  "floor-fsync 10028 $FSYNC_PID" "tern 2525 $TERN_PID"; do
        set -- $server
        "$SHARED/smtp-throughput" 127.0.0.1 "$2" bench.test 10000 4k "$SESSIONS" 1 \
            --server-pid "$3" --label "$1" --quiet-wait 15 2>/dev/null \
            | grep '^RUN' | sed "s/^RUN /RUN round=$round /" | tee -a "$RESULTS"
    done
done
python3 - "$RESULTS" <<'PY'
import re, statistics, sys
runs = [dict(re.findall(r"(\w+)=(\S+)", line)) for line in open(sys.argv[1])]
rounds = sorted({r["round"] for r in runs})
rate = {(r["round"], r["label"]): float(r["accept_msgs_per_s"]) for r in runs}
cpu = {(r["round"], r["label"]): float(r["server_cpu_ms_per_msg"]) for r in runs}
for label in ("floor-null", "floor-fsync", "tern"):
    shares = [rate[(n, label)] / rate[(n, "sink")] for n in rounds]
    cpus = [cpu[(n, label)] for n in rounds]
    print(f"SHARE {label} of sink: median {statistics.median(shares):.3f} "
          f"(rounds {' '.join(f'{s:.3f}' for s in shares)}); "
          f"server CPU ms/msg {min(cpus):.3f}-{max(cpus):.3f}")
sink_cpu = [cpu[(n, "sink")] for n in rounds]
print(f"SINK server CPU ms/msg {min(sink_cpu):.3f}-{max(sink_cpu):.3f}")
PY
rm -f "$RESULTS"
