#!/usr/bin/env bash
# Issue 8's memory figure: N logged-in IMAP connections in IDLE on Tern (default 10,000),
# measured with ../shared/bench/idle-conns.py (RSS, PSS and USS of the server before and with
# the connections; the difference divided by N). Needs root for the file-descriptor limit.
#   bench/imap-idle-memory.sh [N]
#
# The load comes from one address with 100 users, which the server's defences would refuse
# (at most 1,000 IMAP connections, 50 sessions and 20 IDLEs per account, 10 logins in flight
# per client), so this run raises those limits in its own configuration; passwords are hashed
# with a small argon2 cost so that 10,000 logins take seconds, not minutes (the verifier's work
# area is one buffer whatever the number of connections).
source "$(dirname "$0")/common.sh"
N=${1:-10000}
# The server and the client each need a descriptor per connection.
WANT=$((N + 2048))
HARD=$(ulimit -Hn)
[ "$HARD" = unlimited ] || [ "$HARD" -ge "$WANT" ] || { echo "need ulimit -Hn >= $WANT" >&2; exit 1; }
ulimit -n "$WANT"
IDLE_CONFIG=$(mktemp /tmp/tern-idle-XXXX.toml)
cat "$CONFIG" > "$IDLE_CONFIG"
# Appended to the [imap] table, the last one of tern-bench.toml.
cat >> "$IDLE_CONFIG" <<TOML
max_connections = $((N + 100))
max_sessions_per_user = $((N / 50 + 10))
max_idle_per_user = $((N / 50 + 10))

[auth]
argon2_memory_kib = 256
argon2_iterations = 1
max_failures_per_ip = $((N + 100))
max_failures_per_network = $((N + 100))
TOML
CONFIG=$IDLE_CONFIG
start_tern
python3 "$SHARED/idle-conns.py" "$N" --port 2143 --users 100 --user-template 'u{n}@bench.test' \
    --password pass --pid-root "$TERN_PID" --batch 200
