#!/bin/sh
# Drift check for cron: reports, never writes to the server. Writes Prometheus metrics for
# node_exporter's textfile collector and mails a report when someone changed managed users
# behind the fleet file's back.
#
#   */30 * * * *  TRACCAR_TOKEN=... /usr/local/bin/cron-drift.sh
#
# `fleetform drift` exit codes: 0 in sync, 2 pending changes only (the file asks for something
# not applied yet), 3 drift (with or without pending), 1 error.
set -u

FLEET_FILE=${FLEET_FILE:-/srv/fleet/fleet.yaml}
METRICS=${METRICS:-/var/lib/node_exporter/textfile_collector/fleetform-drift.prom}
MAIL_TO=${MAIL_TO:-}
REPORT=$(mktemp)
trap 'rm -f "$REPORT"' EXIT

# Keep the checkout current so "pending" means "merged but not applied".
if [ -d "$(dirname "$FLEET_FILE")/.git" ]; then
    git -C "$(dirname "$FLEET_FILE")" pull --quiet --ff-only || echo "warning: git pull failed" >&2
fi

fleetform --color never drift -f "$FLEET_FILE" --metrics-out "$METRICS" > "$REPORT" 2>&1
code=$?

case "$code" in
    0) ;;
    2) echo "fleetform: changes pending (merged, not applied yet)" >&2 ;;
    3)
        echo "fleetform: DRIFT on the server" >&2
        cat "$REPORT" >&2
        if [ -n "$MAIL_TO" ]; then
            mail -s "fleetform: drift in $(basename "$FLEET_FILE")" "$MAIL_TO" < "$REPORT"
        fi
        ;;
    *)
        echo "fleetform drift failed (exit $code):" >&2
        cat "$REPORT" >&2
        ;;
esac
exit "$code"
