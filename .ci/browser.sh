#!/usr/bin/env bash
# Browser journeys (.ci/browser/journeys.mjs): Debian's Chromium (/usr/bin/chromium, or
# $CHROMIUM) driven by playwright-core from .ci/node_modules, against the built debug server
# with the `file` mail transport in a temporary data directory. Each journey starts from the
# link in an .eml file the server wrote. Screenshots go to target/screenshots/.
# Builds nothing: run `cargo build` first. Called by .ci/run (step k); runs on its own too:
#   npm ci --prefix .ci --ignore-scripts && .ci/browser.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BROWSER_BIN:-target/debug/uit-portal}
SHOTS=${BROWSER_SCREENSHOTS:-target/screenshots}
if [ ! -x "$BIN" ]; then
    echo "$BIN not found: run cargo build first (or set BROWSER_BIN)" >&2
    exit 1
fi
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    echo "${CHROMIUM:-/usr/bin/chromium} not found: apt-get install chromium (.ci/run does)" >&2
    exit 1
fi
if [ ! -d .ci/node_modules/playwright-core ]; then
    echo ".ci/node_modules/playwright-core not found: npm ci --prefix .ci --ignore-scripts (.ci/run does)" >&2
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

# The links in the emails name public_url, so the server must know its port before it starts:
# ask the kernel for a free one.
PORT=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')
BASE="http://127.0.0.1:$PORT"
ADMIN_EMAIL=admin@uit-portal.localhost

# Only the PORTAL_* settings below reach the server (it rejects unknown PORTAL_* variables).
portal() {
    env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
        PORTAL_BIND="127.0.0.1:$PORT" \
        PORTAL_DATA_DIR="$WORK/data" \
        PORTAL_PUBLIC_URL="$BASE" \
        PORTAL_MAIL_TRANSPORT=file \
        PORTAL_MAIL_DIR="$WORK/mail" \
        PORTAL_BOOTSTRAP_EMAIL="$ADMIN_EMAIL" \
        PORTAL_LOG_FORMAT=json \
        PORTAL_LOG_LEVEL=info \
        "$BIN" "$@"
}
# The demo industry (seed-demo: organisations, accounts with the password uit-demo-password,
# the open window UIT-2026-11 with claims and results of every visibility), so the journeys
# sign in as the people WEB.md names.
portal seed-demo >"$WORK/seed.log" 2>&1
portal serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

rm -rf "$SHOTS"
if ! node .ci/browser/journeys.mjs "$BASE" "$WORK/data" "$WORK/mail" "$SHOTS"; then
    echo "the journeys failed; server warnings and errors (last 40):" >&2
    grep -v '"level":"INFO"' "$WORK/server.log" | tail -n 40 >&2 || true
    exit 1
fi
