#!/bin/sh
# Run `torghut-research lane` once over a window of signals; used by the chart's research CronJob /
# Job and by docker-compose's `research` service (docs/research.md).
#
# The lane itself is deterministic: the same signals, configs and evaluated-at give the same bytes.
# This wrapper keeps it that way on a schedule by deriving the window from the clock only once,
# rounded down: a retried or re-run Job inside the same RESEARCH_ALIGN_SECONDS reads the same window
# and writes the same run directory (the lane swaps it in whole), instead of a slightly shifted copy.
#
# Environment:
#   RESEARCH_SIGNALS          required: the --signals spec; "{since}" and "{until}" in it are replaced
#                             by the window, e.g. kafka://kafka:9092/torghut.ta.signals.v1?since={since}&until={until}
#   RESEARCH_SINCE, RESEARCH_UNTIL
#                             a fixed window (ISO-8601 with a zone); both or neither
#   RESEARCH_LOOKBACK_HOURS   otherwise: the window is this many hours up to ... (default 24)
#   RESEARCH_ALIGN_SECONDS    ... now, rounded down to a multiple of this (default 3600)
#   RESEARCH_CONFIG_DIR       strategy-config.yaml, gate-policy.json [, evidence.json] (default /etc/torghut/research)
#   RESEARCH_EVIDENCE_FILE    evidence file (default $RESEARCH_CONFIG_DIR/evidence.json); passed when it exists
#   RESEARCH_OUTPUT_ROOT      where runs go: <root>/runs/<until>, <root>/latest -> it (default /var/lib/torghut/research)
#   RESEARCH_KEEP_RUNS        keep only the newest N run directories (default 0: keep all)
# Arguments are passed on to the lane (e.g. --promotion-target shadow).
#
# Exit status: the lane's. 0 means it ran and decided (a denied promotion is a decision: read
# "action" in the JSON summary on stdout); 2 means the input could not be used, and nothing was written;
# 3 means the run is decided and written (and linked as latest) but its summary could not be published
# to torghut.research.lane-runs.v1 (KAFKA_BOOTSTRAP_SERVERS set, broker unreachable).
set -eu

: "${RESEARCH_SIGNALS:?RESEARCH_SIGNALS is required (the lane's --signals spec)}"
CONFIG_DIR="${RESEARCH_CONFIG_DIR:-/etc/torghut/research}"
EVIDENCE="${RESEARCH_EVIDENCE_FILE:-$CONFIG_DIR/evidence.json}"
OUTPUT_ROOT="${RESEARCH_OUTPUT_ROOT:-/var/lib/torghut/research}"
KEEP="${RESEARCH_KEEP_RUNS:-0}"

if [ -n "${RESEARCH_SINCE:-}" ] || [ -n "${RESEARCH_UNTIL:-}" ]; then
    : "${RESEARCH_SINCE:?a fixed window needs both RESEARCH_SINCE and RESEARCH_UNTIL}"
    : "${RESEARCH_UNTIL:?a fixed window needs both RESEARCH_SINCE and RESEARCH_UNTIL}"
    since="$RESEARCH_SINCE"
    until="$RESEARCH_UNTIL"
else
    lookback="${RESEARCH_LOOKBACK_HOURS:-24}"
    align="${RESEARCH_ALIGN_SECONDS:-3600}"
    now="$(date -u +%s)"
    until_s=$(( now / align * align ))
    since_s=$(( until_s - lookback * 3600 ))
    since="$(date -u -d "@$since_s" +%Y-%m-%dT%H:%M:%SZ)"
    until="$(date -u -d "@$until_s" +%Y-%m-%dT%H:%M:%SZ)"
fi

signals="$(printf '%s' "$RESEARCH_SIGNALS" | sed -e "s|{since}|$since|g" -e "s|{until}|$until|g")"
# One directory per window end, named without ':' (safe in every tool and file system).
run="$(printf '%s' "$until" | tr -d ':-')"
mkdir -p "$OUTPUT_ROOT/runs"
out="$OUTPUT_ROOT/runs/$run"

set -- lane --signals "$signals" \
    --strategy-config "$CONFIG_DIR/strategy-config.yaml" \
    --gate-policy "$CONFIG_DIR/gate-policy.json" \
    --output-dir "$out" "$@"
if [ -f "$EVIDENCE" ]; then
    set -- "$@" --evidence "$EVIDENCE"
else
    echo "research-lane: no evidence file at $EVIDENCE: the gates that need one fail closed" >&2
fi

echo "research-lane: window $since .. $until -> $out" >&2
status=0
torghut-research "$@" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then
    exit "$status"
fi

ln -sfn "runs/$run" "$OUTPUT_ROOT/latest"
if [ "$KEEP" -gt 0 ]; then
    # Run directories sort by time (their names are UTC timestamps); staging leftovers start with '.'.
    ls -1 "$OUTPUT_ROOT/runs" | grep -v '^\.' | sort | head -n "-$KEEP" | while read -r old; do
        rm -rf "${OUTPUT_ROOT:?}/runs/$old"
    done
fi
exit "$status"
