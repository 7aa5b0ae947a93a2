# Shared by the benchmark scripts: builds Tern, creates bench.test with u1..u100 (password
# "pass"), starts it on a fresh data directory. Sourced, not run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared/bench}
CONFIG=$ROOT/bench/tern-bench.toml
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TERN=$CARGO_TARGET_DIR/release/tern

start_tern() {
    cargo build --release -q -p tern-server --manifest-path "$ROOT/Cargo.toml"
    rm -rf /tmp/tern-bench
    "$TERN" --config "$CONFIG" domain add bench.test --create >/dev/null
    for i in $(seq 1 100); do echo pass | "$TERN" --config "$CONFIG" user add "u$i@bench.test" >/dev/null; done
    "$TERN" --config "$CONFIG" serve 2>/tmp/tern-bench.log &
    TERN_PID=$!
    for _ in $(seq 1 100); do [ -f /tmp/tern-bench/listeners ] && break; sleep 0.1; done
    trap 'kill $TERN_PID 2>/dev/null || true' EXIT
}
