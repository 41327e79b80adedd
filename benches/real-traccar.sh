#!/usr/bin/env bash
# Measures fleetform against a real Traccar server (BENCHMARKS.md, "On a real Traccar 6.9.1"):
# the same scenarios with the defaults and with `--concurrency 1 --no-bulk` (one request after
# the other, one request per object and link: the sequential script), in the same run.
#
# usage: benches/real-traccar.sh URL USERS [CONCURRENCY...]
#   URL    a server started by ../shared/real-traccar/start.sh --fresh (admin@example.com / admin)
#   USERS  fleet size N: N users with two of 2N devices each, an administrator run naming a
#          manager account; the server also gets two groups no user is linked to.
#   CONCURRENCY  extra `--concurrency` values for the no-change plan (the sweep)
# env: FLEETFORM (the binary, default target/release/fleetform), OUT (work directory)
#
# Prints one Markdown row per run: run, requests (from `-v`, one line per request), wall time.
# Seeds the server with curl (16 at a time); run it on a fresh server.
set -euo pipefail

URL="$1"
N="$2"
shift 2
SWEEP=("$@")
FLEETFORM="${FLEETFORM:-target/release/fleetform}"
OUT="${OUT:-$(mktemp -d)}"
ADMIN=(-u admin@example.com:admin)
export TRACCAR_EMAIL=admin@example.com TRACCAR_PASSWORD=admin

post() { curl -sf "${ADMIN[@]}" -H 'Content-Type: application/json' -d "$2" "$URL$1" >/dev/null; }
export -f post
export URL
export ADMIN_ARG="admin@example.com:admin"

# ---- seed: 2N devices, a manager account, two groups ----
if [ "$(curl -sf "${ADMIN[@]}" "$URL/api/devices?all=true" | { grep -o '"uniqueId"' || true; } | wc -l)" -lt $((2 * N)) ]; then
    seq 0 $((2 * N - 1)) | xargs -P16 -I{} sh -c \
        'curl -sf -u "$ADMIN_ARG" -H "Content-Type: application/json" -d "{\"name\":\"Bike {}\",\"uniqueId\":\"BK-{}\"}" "$URL/api/devices" >/dev/null'
    post /api/users '{"name":"Fleet","email":"fleet@bench.example","password":"fleet-manager-pw","userLimit":-1,"deviceLimit":-1}'
    post /api/groups '{"name":"Vienna"}'
    post /api/groups '{"name":"Graz"}'
fi
# The fleet stays in the billing account: every device is linked to the manager (one bulk).
manager=$(curl -sf "${ADMIN[@]}" "$URL/api/users" |
    python3 -c 'import json,sys; print(next(u["id"] for u in json.load(sys.stdin) if u["email"] == "fleet@bench.example"))')
mine=$(curl -sf "${ADMIN[@]}" "$URL/api/devices?userId=$manager" | { grep -o '"uniqueId"' || true; } | wc -l)
if [ "$mine" -lt $((2 * N)) ]; then
    ids=$(curl -sf "${ADMIN[@]}" "$URL/api/devices?all=true" |
        python3 -c 'import json,sys; print(" ".join(str(d["id"]) for d in json.load(sys.stdin)))')
    body=$(for d in $ids; do printf '{"userId":%s,"deviceId":%s},' "$manager" "$d"; done)
    post /api/permissions/bulk "[${body%,}]"
fi

# ---- fleet files: one per runner, so each first apply creates its own users ----
fleet() { # fleet NAME PREFIX SHIFT
    {
        # No user has groups, and the file says so (`unmanaged: [groups]`), as the sequential
        # script never looks at groups either; `*-managed.yaml` below drops that line.
        printf 'version: 1\nfleet: %s\nmanager: fleet@bench.example\nunmanaged: [groups]\nserver:\n  url: %s\nusers:\n' "$1" "$URL"
        for i in $(seq 0 $((N - 1))); do
            printf '  - email: %s%d@bench.example\n    name: Rider %d\n    devices: [BK-%d, BK-%d]\n' \
                "$2" "$i" "$i" $(((2 * i + $3) % (2 * N))) $(((2 * i + 1) % (2 * N)))
        done
    } >"$OUT/$1-$3.yaml"
}
fleet fast ff 0
fleet fast ff 2
fleet seq sq 0
fleet seq sq 2
# The small change: only the first 5 users' first device changes.
for name in fast seq; do
    head -n $((7 + 3 * 5)) "$OUT/$name-2.yaml" >"$OUT/$name-small.yaml"
    tail -n +$((7 + 3 * 5 + 1)) "$OUT/$name-0.yaml" >>"$OUT/$name-small.yaml"
done
# The same fleet with group links managed (the default): a hand-added group link is seen.
grep -v '^unmanaged:' "$OUT/fast-0.yaml" >"$OUT/fast-managed.yaml"

measure() { # measure LABEL ARGS...
    local label="$1"
    shift
    local start end requests
    start=$(date +%s.%N)
    "$FLEETFORM" "$@" -v >"$OUT/last.out" 2>"$OUT/last.err" || [ $? -eq 2 ] || {
        tail -n 5 "$OUT/last.out" "$OUT/last.err" >&2
        exit 1
    }
    end=$(date +%s.%N)
    requests=$(grep -c ' -> ' "$OUT/last.err" || true)
    printf '| %s | %s | %.1f s |\n' "$label" "$requests" "$(echo "$end - $start" | bc)"
}

SEQ=(--concurrency 1 --no-bulk)
echo "| run | requests | wall |"
echo "|---|---:|---:|"
measure "fleetform: first apply" apply -f "$OUT/fast-0.yaml" --auto-approve
measure "sequential: first apply" apply -f "$OUT/seq-0.yaml" --auto-approve "${SEQ[@]}"
measure "fleetform: no-change plan" plan -f "$OUT/fast-0.yaml"
measure "sequential: no-change plan" plan -f "$OUT/seq-0.yaml" "${SEQ[@]}"
measure "fleetform: no-change plan, group links managed (no \`unmanaged\`)" plan -f "$OUT/fast-managed.yaml"
measure "sequential: no-change plan, group links managed" plan -f "$OUT/fast-managed.yaml" "${SEQ[@]}"
for c in "${SWEEP[@]}"; do
    measure "fleetform: no-change plan, --concurrency $c" plan -f "$OUT/fast-0.yaml" --concurrency "$c"
done
measure "fleetform: CI flow, plan --out (5 users change a device)" plan -f "$OUT/fast-small.yaml" --out "$OUT/fast.plan.json"
measure "fleetform: CI flow, apply --plan" apply --plan "$OUT/fast.plan.json" --auto-approve
measure "sequential: CI flow, plan (5 users change a device)" plan -f "$OUT/seq-small.yaml" "${SEQ[@]}"
measure "sequential: CI flow, apply" apply -f "$OUT/seq-small.yaml" --auto-approve "${SEQ[@]}"
measure "fleetform: no-change plan after the change" plan -f "$OUT/fast-small.yaml"
