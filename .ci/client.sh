#!/usr/bin/env bash
# The generated client: openapi-python-client (.ci/client/requirements.txt) generates a Python
# client from openapi/openapi.json, with every warning treated as a failure; then
# .ci/client/workflow.py drives the whole UIT workflow through that client, as a supplier's
# test harness would, against the built server with the demo industry loaded
# (`uit-portal seed-demo`) in a fresh SQLite database.
# The generated code goes to a temporary directory and is deleted afterwards; nothing is
# committed. Called by .ci/run (step j); runs on its own too:
#   .ci/client.sh                                   # after `cargo build`
#   CLIENT_BIN=target/release/uit-portal .ci/client.sh
#   CLIENT_KEEP=/tmp/client .ci/client.sh           # keep the generated client there
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.ci/.venv-client
SPEC=openapi/openapi.json
BIN=${CLIENT_BIN:-target/debug/uit-portal}
GEN="$VENV/bin/openapi-python-client"
PY="$VENV/bin/python"

if [ ! -x "$BIN" ]; then
    echo "$BIN not found: run cargo build first (or set CLIENT_BIN)" >&2
    exit 1
fi
if [ ! -x "$GEN" ]; then
    echo "$GEN not found: install .ci/client/requirements.txt into $VENV (.ci/run does)" >&2
    exit 1
fi

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# ---- generate ------------------------------------------------------------------------------
# The generator formats its output with ruff (a post-generation hook), found on PATH; without
# it the hook fails with a warning, which --fail-on-warning turns into a failure.
OUT="$WORK/client/uit_portal_client"
mkdir -p "$WORK/client"
if ! PATH="$PWD/$VENV/bin:$PATH" "$GEN" generate --path "$SPEC" --config .ci/client/config.yaml \
    --meta none --output-path "$OUT" --fail-on-warning >"$WORK/generate.log" 2>&1; then
    echo "openapi-python-client failed or warned on $SPEC:" >&2
    cat "$WORK/generate.log" >&2
    exit 1
fi
# --fail-on-warning covers parse errors and hook failures; anything else it prints that is not
# the one progress line is worth a look, so it fails too.
if grep -v -e "^Generating $OUT\$" -e '^[[:space:]]*$' "$WORK/generate.log" >/dev/null; then
    echo "openapi-python-client printed more than expected:" >&2
    cat "$WORK/generate.log" >&2
    exit 1
fi
echo "generated $(find "$OUT/api" -name '*.py' ! -name '__init__.py' | wc -l) operations and" \
    "$(find "$OUT/models" -name '*.py' ! -name '__init__.py' | wc -l) models from $SPEC, no warnings"
if [ -n "${CLIENT_KEEP:-}" ]; then
    rm -rf "$CLIENT_KEEP" && mkdir -p "$CLIENT_KEEP" && cp -r "$OUT" "$CLIENT_KEEP/"
    echo "kept a copy in $CLIENT_KEEP/uit_portal_client"
fi

# ---- serve the demo industry ------------------------------------------------------------------
# Only the PORTAL_* settings below reach the server (it rejects unknown PORTAL_* variables).
# A command, not a shell function: started with `&`, a function runs in a subshell, `$!` is
# that subshell, and the cleanup's kill would leave the server itself running.
PORTAL=(env -i PATH="$PATH" HOME="${HOME:-/tmp}"
    PORTAL_BIND=127.0.0.1:0
    PORTAL_DATA_DIR="$WORK/data"
    PORTAL_PUBLIC_URL=http://127.0.0.1
    PORTAL_MAIL_TRANSPORT=memory
    PORTAL_LOG_FORMAT=json
    PORTAL_LOG_LEVEL=info
    "$BIN")
LOG="$WORK/server.log"
"${PORTAL[@]}" seed-demo >"$WORK/seed.log" 2>&1 || {
    echo "seed-demo failed:" >&2
    cat "$WORK/seed.log" >&2
    exit 1
}
grep -q 'admin@northern-lights.demo' "$WORK/seed.log" || {
    echo "seed-demo did not list the supplier admin the workflow signs in as:" >&2
    cat "$WORK/seed.log" >&2
    exit 1
}
"${PORTAL[@]}" serve >"$LOG" 2>&1 &
SERVER_PID=$!

# The server logs the port it bound once it listens.
PORT=""
for _ in $(seq 1 300); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "the server exited during start-up:" >&2
        cat "$LOG" >&2
        exit 1
    fi
    PORT=$(sed -n 's/.*"message":"listening".*"port":\([0-9]*\).*/\1/p; s/.*"port":\([0-9]*\).*"message":"listening".*/\1/p' "$LOG" | head -1)
    [ -n "$PORT" ] && break
    sleep 0.1
done
if [ -z "$PORT" ]; then
    echo "the server did not report a port within 30 s:" >&2
    cat "$LOG" >&2
    exit 1
fi
BASE="http://127.0.0.1:$PORT"
echo "server: $BIN on $BASE, demo industry loaded"

# ---- the workflow -----------------------------------------------------------------------------
"$PY" .ci/client/workflow.py "$BASE" "$WORK/client" || {
    echo "the workflow failed; server warnings and errors (last 40):" >&2
    grep -v '"level":"INFO"' "$LOG" | tail -n 40 >&2 || true
    exit 1
}
