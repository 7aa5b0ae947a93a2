#!/usr/bin/env bash
# Issue 4's benchmark: a POP3 client downloading 1,000 messages of 100 KiB (login, STAT, UIDL,
# RETR of each), Tern and Dovecot on the same machine. Dovecot's mailbox is loaded with IMAP
# APPEND, Tern's over SMTP (Tern has no IMAP yet); the download is the same. Needs root.
#   bench/pop3-vs-dovecot.sh [RUNS]     (default 3)
source "$(dirname "$0")/common.sh"
RUNS=${1:-3}
"$SHARED/dovecot-reference-setup" >/dev/null
trap '"$SHARED/dovecot-reference-setup" stop; kill ${TERN_PID:-0} 2>/dev/null || true' EXIT
start_tern
trap '"$SHARED/dovecot-reference-setup" stop; kill $TERN_PID 2>/dev/null || true' EXIT
DOVECOT_PID=$(pgrep -o -f 'dovecot.*dovecot-ref' || pgrep -o dovecot)
"$SHARED/mailbox-bench" load --imap 127.0.0.1:10143 --user test1 --password pass --count 1000 --size 100k >/dev/null
"$SHARED/smtp-throughput" 127.0.0.1 2525 bench.test 1000 100k 4 1 --label tern-load \
    --delivered pop3://u1%40bench.test:pass@127.0.0.1:2110 >/dev/null
for round in $(seq 1 "$RUNS"); do
    "$SHARED/mailbox-bench" pop3 --pop3 127.0.0.1:10110 --user test1 --password pass --runs 1 \
        --label dovecot --server-pid "$DOVECOT_PID" | grep '^RUN'
    "$SHARED/mailbox-bench" pop3 --pop3 127.0.0.1:2110 --user u1@bench.test --password pass --runs 1 \
        --label tern --server-pid "$TERN_PID" | grep '^RUN'
done
