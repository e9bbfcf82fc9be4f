#!/bin/sh
# Prints the request body for the deep page (query B): the 50 campaigns after
# row N in primary-key order. Asks the running PostGraphile for row N's cursor
# (allCampaigns(first: 1, offset: N-1, orderBy: PRIMARY_KEY_ASC)) and fills
# pg-after.json.template with it.
#   usage: ./pg-deep-body.sh N PORT > pg-after-N.json
set -eu
cd "$(dirname "$0")"
n=${1:?usage: pg-deep-body.sh N PORT}
port=${2:?usage: pg-deep-body.sh N PORT}
offset=$((n - 1))
resp=$(sed "s/@OFFSET@/$offset/" pg-cursor-at.json.template |
  curl -sf -H 'Content-Type: application/json' --data-binary @- "http://127.0.0.1:$port/graphql")
cursor=$(printf '%s' "$resp" | sed -n 's/.*"cursor":"\([^"]*\)".*/\1/p')
if [ -z "$cursor" ]; then
  echo "pg-deep-body.sh: no cursor for row $n: $resp" >&2
  exit 1
fi
echo "pg-deep-body.sh: row $n cursor $cursor ($resp)" >&2
sed "s|@CURSOR@|$cursor|" pg-after.json.template
