#!/usr/bin/env bash
# Issue 9's benchmark: 10,000 submitted messages of 4 KiB to remote recipients over 10
# domains, all delivered to Postfix's smtp-sink; messages/s from the first submission to the
# sink's last 250, Tern (submission with AUTH, MX lookups through a DNS server in the bench
# process) against a private Postfix instance relaying the same load, interleaved. Needs root
# and Debian's postfix package. Usage:
#   bench/send-vs-postfix.sh [PAIRS] [extra tern-send-bench options, e.g. --sessions 32]
source "$(dirname "$0")/common.sh"
PAIRS=${1:-3}
shift || true
command -v postfix >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix
cargo build --release -q -p tern-server --bin tern -p tern-testkit --bin tern-send-bench \
    --manifest-path "$ROOT/Cargo.toml"
"$CARGO_TARGET_DIR/release/tern-send-bench" --tern "$TERN" --pairs "$PAIRS" "$@"
