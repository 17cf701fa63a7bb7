#!/usr/bin/env bash
# Contract fuzzing: starts the built server on a free port against a fresh SQLite database and
# runs Schemathesis (.ci/schemathesis.toml) against openapi/openapi.json, twice:
#   1. authenticated with a JWT access token from POST /api/v1/auth/login;
#   2. authenticated with a personal API token from POST /api/v1/me/api-tokens.
# Any failed check fails the script. Called by .ci/run (step i); runs on its own too:
#   .ci/fuzz.sh                         # after `cargo build`
#   FUZZ_BIN=target/release/uit-portal .ci/fuzz.sh
#   FUZZ_SEED=123 .ci/fuzz.sh           # replay a seed a failing run printed
#   FUZZ_MAX_EXAMPLES=200 .ci/fuzz.sh   # look harder (default: .ci/schemathesis.toml)
#   FUZZ_SPEC=/tmp/spec.json .ci/fuzz.sh  # another copy of the spec (default: the committed one)
#
# Operations that could end the run's own session:
# - PATCH /me can change the password, which ends every session. It needs the current
#   password, which Schemathesis is never told, so it can only fail with 422: kept in.
# - POST /auth/logout revokes the refresh-token family given in the body; access tokens
#   stay valid until they expire, and Schemathesis never learns our refresh token: kept in.
# - POST /auth/password-reset/confirm needs an emailed token it cannot see: kept in.
# - DELETE /me/api-tokens/{id} can revoke the API token pass 2 authenticates with (the
#   stateful phase takes ids from GET /me/api-tokens): excluded from pass 2 only; pass 1
#   covers it. Pass 2's token is created after pass 1, so pass 1 cannot revoke it.
# The access token is issued for an hour, so it outlives the run.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.ci/.venv
SPEC=${FUZZ_SPEC:-openapi/openapi.json}
BIN=${FUZZ_BIN:-target/debug/uit-portal}
ST="$VENV/bin/schemathesis"
PY="$VENV/bin/python"

if [ ! -x "$BIN" ]; then
    echo "$BIN not found: run cargo build first (or set FUZZ_BIN)" >&2
    exit 1
fi
if [ ! -x "$ST" ]; then
    echo "$ST not found: install .ci/requirements.txt into $VENV (.ci/run does)" >&2
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

ADMIN_EMAIL=fuzz-admin@uit-portal.test
ADMIN_PASSWORD=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(24))')
LOG="$WORK/server.log"

# Only the PORTAL_* settings below reach the server: it rejects unknown PORTAL_* variables, and
# the caller's own settings (a PostgreSQL URL, say) must not change what is fuzzed.
env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
    PORTAL_BIND=127.0.0.1:0 \
    PORTAL_DATA_DIR="$WORK/data" \
    PORTAL_PUBLIC_URL=http://127.0.0.1 \
    PORTAL_BOOTSTRAP_EMAIL="$ADMIN_EMAIL" \
    PORTAL_BOOTSTRAP_PASSWORD="$ADMIN_PASSWORD" \
    PORTAL_MAIL_TRANSPORT=memory \
    PORTAL_LOGIN_RATE_PER_ACCOUNT_PER_MINUTE=100000 \
    PORTAL_LOGIN_RATE_PER_ADDRESS_PER_MINUTE=100000 \
    PORTAL_ACCESS_TOKEN_TTL_SECONDS=3600 \
    PORTAL_LOG_FORMAT=json \
    PORTAL_LOG_LEVEL=info \
    "$BIN" serve >"$LOG" 2>&1 &
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
echo "server: $BIN on $BASE (data in $WORK/data)"

# api METHOD PATH TOKEN JSON_BODY KEY: one JSON call (fails unless 2xx), prints body[KEY].
api() {
    "$PY" - "$BASE" "$@" <<'PY'
import json
import sys
import urllib.request

base, method, path, token, body, key = sys.argv[1:7]
req = urllib.request.Request(base + path, method=method, data=body.encode() if body else None)
if body:
    req.add_header("Content-Type", "application/json")
if token:
    req.add_header("Authorization", "Bearer " + token)
with urllib.request.urlopen(req, timeout=30) as resp:
    print(json.load(resp)[key])
PY
}

login_body=$("$PY" -c 'import json,sys; print(json.dumps({"email": sys.argv[1], "password": sys.argv[2]}))' \
    "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
JWT=$(api POST /api/v1/auth/login "" "$login_body" access_token)

SEED_ARGS=()
if [ -n "${FUZZ_SEED:-}" ]; then
    SEED_ARGS=(--seed "$FUZZ_SEED")
fi
EXAMPLE_ARGS=()
if [ -n "${FUZZ_MAX_EXAMPLES:-}" ]; then
    EXAMPLE_ARGS=(--max-examples "$FUZZ_MAX_EXAMPLES")
fi

# fuzz NAME TOKEN [schemathesis options...]
fuzz() {
    local name=$1 token=$2
    shift 2
    echo
    echo "--- schemathesis, $name"
    # A token that does not work would turn the pass into a test of 401s.
    api GET /api/v1/me "$token" "" role >/dev/null
    local start=$SECONDS
    FUZZ_URL="$BASE" FUZZ_TOKEN="$token" SCHEMATHESIS_TELEMETRY=false \
        "$ST" --config-file .ci/schemathesis.toml run "$SPEC" \
        --checks all --mode all --no-color \
        ${SEED_ARGS[@]+"${SEED_ARGS[@]}"} ${EXAMPLE_ARGS[@]+"${EXAMPLE_ARGS[@]}"} "$@" || {
        echo "schemathesis ($name) failed; server warnings and errors (last 40):" >&2
        grep -v '"level":"INFO"' "$LOG" | tail -n 40 >&2 || true
        return 1
    }
    echo "--- $name: ok in $((SECONDS - start)) s"
}

fuzz "pass 1: JWT access token" "$JWT"

API_TOKEN=$(api POST /api/v1/me/api-tokens "$JWT" '{"name":"schemathesis pass 2"}' token)
fuzz "pass 2: API token" "$API_TOKEN" --exclude-operation-id revokeApiToken

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "the server died during the run:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
fi
