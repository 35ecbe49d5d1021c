#!/bin/sh
# Create the Torghut topics with Kafka's own kafka-topics.sh (the apache/kafka image); used by the
# chart's topics Job and by docker-compose's topic-init. Idempotent: existing topics are left alone.
#
# $TOPICS_FILE lists one topic per line: "name partitions [config=value ...]" ('#' starts a comment).
# Environment:
#   KAFKA_BOOTSTRAP_SERVERS   required
#   TOPIC_PREFIX              prepended to every name (sandbox copies), default none
#   TOPIC_REPLICATION_FACTOR  default 1
#   TOPIC_ALTER_PARTITIONS    "true": grow a topic that has fewer partitions than listed
#   KAFKA_COMMAND_CONFIG      client properties file (TLS / SASL), passed as --command-config
#   KAFKA_HOME                default /opt/kafka
set -eu

: "${KAFKA_BOOTSTRAP_SERVERS:?KAFKA_BOOTSTRAP_SERVERS is required}"
TOPICS_FILE="${TOPICS_FILE:-/etc/torghut/topics.txt}"
PREFIX="${TOPIC_PREFIX:-}"
REPLICATION="${TOPIC_REPLICATION_FACTOR:-1}"
ALTER="${TOPIC_ALTER_PARTITIONS:-false}"
KAFKA_TOPICS="${KAFKA_HOME:-/opt/kafka}/bin/kafka-topics.sh"
# The JVM writes its perf data and logs under /tmp only (read-only root filesystem).
export LOG_DIR="${LOG_DIR:-/tmp/kafka-logs}"

kafka_topics() {
    if [ -n "${KAFKA_COMMAND_CONFIG:-}" ]; then
        "$KAFKA_TOPICS" --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" --command-config "$KAFKA_COMMAND_CONFIG" "$@" </dev/null
    else
        "$KAFKA_TOPICS" --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" "$@" </dev/null
    fi
}

[ -r "$TOPICS_FILE" ] || { echo "create-topics: cannot read $TOPICS_FILE" >&2; exit 2; }

# One JVM start for the whole state: "name partitions" of every existing topic.
existing="$(kafka_topics --describe --exclude-internal | awk '
    /PartitionCount:/ { for (i = 1; i < NF; i++) if ($i == "PartitionCount:") print $2, $(i + 1) }')"

created=0; kept=0; grown=0; drift=0
while read -r name partitions configs || [ -n "${name:-}" ]; do
    case "${name:-#}" in '#'*) continue ;; esac
    topic="$PREFIX$name"
    current="$(printf '%s\n' "$existing" | awk -v t="$topic" '$1 == t { print $2 }')"
    if [ -z "$current" ]; then
        # shellcheck disable=SC2086 # configs is a list of config=value words
        set -- $configs
        flags=""
        for kv in "$@"; do flags="$flags --config $kv"; done
        # shellcheck disable=SC2086
        kafka_topics --create --if-not-exists --topic "$topic" --partitions "$partitions" \
            --replication-factor "$REPLICATION" $flags
        echo "created $topic partitions=$partitions $configs"
        created=$((created + 1))
    elif [ "$current" -lt "$partitions" ]; then
        if [ "$ALTER" = "true" ]; then
            kafka_topics --alter --topic "$topic" --partitions "$partitions"
            echo "grew $topic partitions $current -> $partitions"
            grown=$((grown + 1))
        else
            echo "WARNING $topic has $current partitions, the spec says $partitions (TOPIC_ALTER_PARTITIONS=true grows it)" >&2
            drift=$((drift + 1))
        fi
    else
        [ "$current" -gt "$partitions" ] && echo "note: $topic has $current partitions, more than the $partitions listed"
        kept=$((kept + 1))
    fi
done < "$TOPICS_FILE"

echo "topics: $created created, $grown grown, $kept already there, $drift with fewer partitions than listed"
