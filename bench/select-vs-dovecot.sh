#!/usr/bin/env bash
# Issue 8's SELECT figure: a mailbox of COUNT messages (default 100,000) in Tern and in the
# Dovecot reference setup, then SELECT INBOX and FETCH 1:* (FLAGS) timed with their server
# CPU (bench/select-bench.py). Tern's mailbox is filled through the store API
# (`tern-mime-bench search`, seconds); Dovecot's over IMAP APPEND (`mailbox-bench load`,
# about 5 ms a message: some 8 minutes for 100,000). Needs root (Dovecot's reference setup).
#   bench/select-vs-dovecot.sh [COUNT] [RUNS]
source "$(dirname "$0")/common.sh"
COUNT=${1:-100000}
RUNS=${2:-5}
STORE=/tmp/tern-select-bench
cargo build --release -q -p tern-server -p tern-testkit --bin tern --bin tern-mime-bench \
    --manifest-path "$ROOT/Cargo.toml"
rm -rf "$STORE"
"$CARGO_TARGET_DIR/release/tern-mime-bench" search --messages "$COUNT" --dir "$STORE" >/dev/null
SELECT_CONFIG=$(mktemp /tmp/tern-select-XXXX.toml)
printf 'hostname = "localhost"\ndata_dir = "%s"\nlog_level = "warn"\n\n[listen]\nimap = ["127.0.0.1:2243"]\n' \
    "$STORE" > "$SELECT_CONFIG"
echo pass | "$TERN" --config "$SELECT_CONFIG" user passwd alice@example.test >/dev/null
"$TERN" --config "$SELECT_CONFIG" serve 2>/tmp/tern-select.log &
TERN_PID=$!
"$SHARED/dovecot-reference-setup" >/dev/null
trap '"$SHARED/dovecot-reference-setup" stop; kill $TERN_PID 2>/dev/null || true' EXIT
"$SHARED/mailbox-bench" load --imap 127.0.0.1:10143 --user test1 --password pass \
    --count "$COUNT" --size 4k >/dev/null
DOVECOT_PID=$(pgrep -o -f 'dovecot.*dovecot-ref' || pgrep -o dovecot)
sleep 1
python3 "$ROOT/bench/select-bench.py" 127.0.0.1 10143 test1 pass "$DOVECOT_PID" --runs "$RUNS" --label dovecot
python3 "$ROOT/bench/select-bench.py" 127.0.0.1 2243 alice@example.test pass "$TERN_PID" --runs "$RUNS" --label tern
