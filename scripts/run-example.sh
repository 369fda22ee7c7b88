#!/usr/bin/env bash
# Starts the bundled example Socket.IO chat server on :3000 and the gateway
# in front of it on :8080. Open http://localhost:8080/console, or run
#   go run ./cmd/gateway client ws://localhost:8080/ws
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --prefix examples/chat --no-audit --no-fund --loglevel=error
PORT="${UPSTREAM_PORT:-3000}" node examples/chat/server.js &
upstream=$!
trap 'kill $upstream 2>/dev/null || true' EXIT
export GATEWAY_UPSTREAM_URL="${GATEWAY_UPSTREAM_URL:-http://127.0.0.1:${UPSTREAM_PORT:-3000}}"
export GATEWAY_LOG_FORMAT="${GATEWAY_LOG_FORMAT:-text}"
export GATEWAY_LIFECYCLE_EVENTS="${GATEWAY_LIFECYCLE_EVENTS:-true}"
go run ./cmd/gateway
