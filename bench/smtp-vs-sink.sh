#!/usr/bin/env bash
# Issue 11 item 7's protocol benchmark: Tern against Postfix's smtp-sink, which speaks SMTP and
# stores nothing (the protocol's ceiling on this machine). 10,000 messages of 4 KiB, one
# connection per message, interleaved on the same machine; server CPU per message for both.
# Tern's 250 already stands for the delivered message (one commit, issue 11 item 7), so no
# delivery probe is needed. Needs root and Debian's postfix package (for smtp-sink). Usage:
#   bench/smtp-vs-sink.sh [PAIRS] [SESSIONS]     (default 3 pairs, 8 sessions)
source "$(dirname "$0")/common.sh"
PAIRS=${1:-3}
SESSIONS=${2:-8}
SINK_PORT=10026
command -v smtp-sink >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix
smtp-sink -u nobody -c 127.0.0.1:$SINK_PORT 256 >/dev/null &
SINK_PID=$!
trap 'kill $SINK_PID 2>/dev/null || true' EXIT
start_tern
trap 'kill $SINK_PID 2>/dev/null || true; kill $TERN_PID 2>/dev/null || true' EXIT
echo "== $SESSIONS sessions"
"$SHARED/smtp-compare" --pairs "$PAIRS" \
    --a "127.0.0.1 $SINK_PORT bench.test 10000 4k $SESSIONS 1 --label sink --server-pid $SINK_PID" \
    --b "127.0.0.1 2525 bench.test 10000 4k $SESSIONS 1 --label tern --server-pid $TERN_PID" \
    | grep -E '^(RUN|RATIO|SUMMARY)'
