#!/usr/bin/env bash
# Issue 3's benchmark: 10,000 messages of 4 KiB over SMTP with 1, 8 and 32 sessions, accepted
# and delivered (visible over POP3 for Tern, in the Maildirs for Postfix), Tern and Postfix
# interleaved on the same machine. Needs root and Debian's postfix package. Usage:
#   [SESSIONS="8 32"] bench/smtp-vs-postfix.sh [PAIRS]     (default 3 pairs, sessions 1 8 32)
source "$(dirname "$0")/common.sh"
PAIRS=${1:-3}
command -v postfix >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix
"$SHARED/postfix-reference-setup" >/dev/null
postfix start 2>/dev/null || postfix reload
trap 'postfix stop 2>/dev/null || true; kill ${TERN_PID:-0} 2>/dev/null || true' EXIT
start_tern
trap 'postfix stop 2>/dev/null || true; kill $TERN_PID 2>/dev/null || true' EXIT
PF_PID=$(postconf -h queue_directory)/pid/master.pid
for sessions in ${SESSIONS:-1 8 32}; do
    echo "== $sessions sessions"
    "$SHARED/smtp-compare" --pairs "$PAIRS" \
        --a "127.0.0.1 10025 bench.test 10000 4k $sessions 1 --label postfix \
             --delivered maildir:/tmp/postfix-mail --server-pidfile $PF_PID \
             --pre-run 'rm -rf /tmp/postfix-mail/bench.test/*; sync'" \
        --b "127.0.0.1 2525 bench.test 10000 4k $sessions 1 --label tern \
             --delivered pop3://u1%40bench.test:pass@127.0.0.1:2110 --server-pid $TERN_PID" \
        | grep -E '^(RUN|RATIO|SUMMARY)'
done
