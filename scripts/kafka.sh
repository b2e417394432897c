#!/usr/bin/env bash
# scripts/kafka.sh - a throw-away, single-node Apache Kafka broker for Sluice
# tests and CI.
#
# The broker runs in KRaft mode (broker + controller in one JVM, no ZooKeeper),
# listens on 127.0.0.1 only, and is fetched from Maven Central with Maven using
# scripts/kafka/pom.xml.  Jars live in the normal local Maven repository
# (~/.m2), and the resolved classpath is cached, so only the first start
# downloads anything; later starts need no network and no Maven run.
#
# Usage:
#   scripts/kafka.sh start                      start (or reuse) the broker, wait until it answers
#   scripts/kafka.sh stop                       stop it and delete its data (idempotent)
#   scripts/kafka.sh restart                    SIGKILL the broker (a crash) and start it again
#                                               on the same data (recovery tests)
#   scripts/kafka.sh status                     exit 0 if running and answering, 1 otherwise
#   scripts/kafka.sh topic-create NAME PARTS    create a topic (RF 1; no error if it already exists)
#   scripts/kafka.sh topic-add-partitions NAME TOTAL
#                                               grow a topic to TOTAL partitions
#   scripts/kafka.sh topic-delete NAME          delete a topic
#   scripts/kafka.sh env                        print KAFKA_BOOTSTRAP=... and KAFKA_CLASSPATH=...
#
# How tests use it:
#   scripts/kafka.sh start
#   eval "$(scripts/kafka.sh env)"              # -> $KAFKA_BOOTSTRAP (127.0.0.1:19092)
#   scripts/kafka.sh topic-create in 4
#   ... run Sluice / kcat against $KAFKA_BOOTSTRAP ...
#   scripts/kafka.sh stop
# Under ctest, the fixture kafka.start / kafka.stop (tests/CMakeLists.txt)
# runs a broker per build directory (port SLUICE_TEST_KAFKA_PORT); the Kafka
# tests fail, never skip, without it.  Several brokers can coexist by using
# different KAFKA_PORTs.
#
# Environment (all optional):
#   KAFKA_PORT             broker (PLAINTEXT) port on 127.0.0.1      default 19092
#   KAFKA_CONTROLLER_PORT  KRaft controller port on 127.0.0.1        default KAFKA_PORT+1
#   KAFKA_DIR              config, data, logs and pid file           default ${TMPDIR:-/tmp}/sluice-kafka-$KAFKA_PORT
#   KAFKA_HEAP_OPTS        broker JVM heap                           default -Xms128m -Xmx512m
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to answer  default 60
#   KAFKA_STOP_TIMEOUT     seconds to wait after SIGTERM             default 20
#   KAFKA_KEEP_LOGS=1      `stop` keeps $KAFKA_DIR/logs (for CI artifacts)
#   KAFKA_MVN_FLAGS        extra flags for mvn (e.g. -Dmaven.repo.local=/cache/m2)
#   KAFKA_CACHE_DIR        classpath cache   default ${XDG_CACHE_HOME:-$HOME/.cache}/sluice-kafka
#
# Requirements: bash, java (17+), mvn; both are installed with apt-get when
# missing and running as root on Debian/Ubuntu.  kcat is used for readiness
# checks when present, otherwise Kafka's own Java tools are used.

set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="$SCRIPT_DIR/kafka/pom.xml"

KAFKA_HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-19092}"
case "$KAFKA_PORT" in ''|*[!0-9]*) echo "kafka: KAFKA_PORT must be a number, got '$KAFKA_PORT'" >&2; exit 2;; esac
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
case "$KAFKA_CONTROLLER_PORT" in ''|*[!0-9]*) echo "kafka: KAFKA_CONTROLLER_PORT must be a number" >&2; exit 2;; esac
KAFKA_DIR="${KAFKA_DIR:-${TMPDIR:-/tmp}/sluice-kafka-$KAFKA_PORT}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-60}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-20}"
KAFKA_CACHE_DIR="${KAFKA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice-kafka}"
KAFKA_MVN_FLAGS="${KAFKA_MVN_FLAGS:-}"

BOOTSTRAP="$KAFKA_HOST:$KAFKA_PORT"
PID_FILE="$KAFKA_DIR/kafka.pid"
CONFIG="$KAFKA_DIR/server.properties"
LOG_DIR="$KAFKA_DIR/logs"
SERVER_LOG="$LOG_DIR/server.log"
CONSOLE_LOG="$LOG_DIR/console.out"
MARKER="$KAFKA_DIR/.sluice-kafka"       # proves the directory is ours before rm -rf
LOCK_FILE="${TMPDIR:-/tmp}/sluice-kafka-$KAFKA_PORT.lock"

log() { echo "kafka: $*" >&2; }
die() { echo "kafka: error: $*" >&2; exit 1; }

# ---------------------------------------------------------------- prerequisites

apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "$* missing and apt-get not available; install it manually"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "$* missing; run as root or install it manually"
        sudo="sudo -n"
    fi
    log "installing $* with apt-get"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 \
        || { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 \
             && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2; } \
        || die "apt-get install $* failed"
}

need_tools() {
    local pkgs=()
    command -v java >/dev/null 2>&1 || pkgs+=(default-jre-headless)
    command -v mvn  >/dev/null 2>&1 || pkgs+=(maven)
    [ "${#pkgs[@]}" -eq 0 ] || apt_install "${pkgs[@]}"
    command -v java >/dev/null 2>&1 || die "java not found after install"
}

# ---------------------------------------------------------------- classpath

# Prints the broker classpath.  Uses the cached result when every jar in it
# still exists; otherwise runs Maven (which downloads into ~/.m2 on first use).
classpath() {
    [ -f "$POM" ] || die "missing $POM"
    local key cache cp jar ok=1 jars=()
    key="$(sha256sum "$POM" | cut -c1-16)"
    cache="$KAFKA_CACHE_DIR/classpath-$key.txt"
    if [ -s "$cache" ]; then
        cp="$(cat "$cache")"
        IFS=: read -r -a jars <<<"$cp"
        for jar in "${jars[@]}"; do [ -f "$jar" ] || { ok=0; break; }; done
        if [ "$ok" -eq 1 ]; then printf '%s\n' "$cp"; return 0; fi
    fi
    need_tools
    command -v mvn >/dev/null 2>&1 || die "mvn not found"
    mkdir -p "$KAFKA_CACHE_DIR"
    local tmp="$cache.tmp.$$" mvn_log="$cache.mvn.$$.log"
    log "resolving Kafka jars from Maven Central (first run downloads ~70 MB into ~/.m2)"
    # shellcheck disable=SC2086  # KAFKA_MVN_FLAGS is a list of flags
    if ! timeout 900 mvn -B -q -Dstyle.color=never $KAFKA_MVN_FLAGS -f "$POM" \
            dependency:build-classpath -Dmdep.includeScope=runtime \
            -Dmdep.outputFile="$tmp" >"$mvn_log" 2>&1; then
        cat "$mvn_log" >&2
        rm -f "$tmp" "$mvn_log"
        die "Maven could not resolve the Kafka dependencies (see above)"
    fi
    rm -f "$mvn_log"
    [ -s "$tmp" ] || die "Maven produced an empty classpath"
    mv -f "$tmp" "$cache"
    cat "$cache"
}

# ---------------------------------------------------------------- process helpers

# The pid in the pid file, if that process is alive and is our broker.
broker_pid() {
    [ -f "$PID_FILE" ] || return 1
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    case "$pid" in ''|*[!0-9]*) return 1;; esac
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a recycled pid: it must be java running kafka.Kafka with our config.
    if [ -r "/proc/$pid/cmdline" ]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONFIG" || return 1
    fi
    printf '%s\n' "$pid"
}

port_in_use() {  # true if something accepts TCP connections on 127.0.0.1:$1
    (exec 3<>"/dev/tcp/$KAFKA_HOST/$1") 2>/dev/null
}

tool_log4j() {  # quiet log4j config for the short-lived admin tools
    local f="${KAFKA_CACHE_DIR}/tools-log4j.properties"
    if [ ! -s "$f" ]; then
        mkdir -p "$KAFKA_CACHE_DIR"
        cat >"$f" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
    fi
    printf '%s\n' "$f"
}

run_tool() {  # run_tool TIMEOUT MAIN-CLASS ARGS...  (Kafka CLI class on our classpath)
    local secs="$1" main="$2"; shift 2
    need_tools
    local cp l4j
    cp="$(classpath)"
    l4j="$(tool_log4j)"
    timeout "$secs" java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
        -Dlog4j.configuration="file:$l4j" -cp "$cp" "$main" "$@"
}

# Is the broker answering and registered (unfenced) in its own metadata?
answering() {
    port_in_use "$KAFKA_PORT" || return 1    # cheap check first; kcat would retry for -m secs
    if command -v kcat >/dev/null 2>&1; then
        timeout 10 kcat -b "$BOOTSTRAP" -L -m 3 2>/dev/null | grep -q "broker 1 at $BOOTSTRAP" && return 0
        return 1
    fi
    local cfg="$KAFKA_CACHE_DIR/probe-admin.properties"
    mkdir -p "$KAFKA_CACHE_DIR"
    printf 'request.timeout.ms=3000\ndefault.api.timeout.ms=5000\n' >"$cfg"
    run_tool 20 org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
        --command-config "$cfg" --list >/dev/null 2>&1
}

show_log_tail() {
    local f
    for f in "$SERVER_LOG" "$CONSOLE_LOG"; do
        [ -s "$f" ] || continue
        echo "----- last 40 lines of $f -----" >&2
        tail -n 40 "$f" >&2
    done
}

wipe_dir() {
    [ -e "$KAFKA_DIR" ] || return 0
    [ -f "$MARKER" ] || die "$KAFKA_DIR exists but was not created by kafka.sh; refusing to delete it"
    if [ "${KAFKA_KEEP_LOGS:-0}" = 1 ] && [ -d "$LOG_DIR" ]; then
        find "$KAFKA_DIR" -mindepth 1 -maxdepth 1 ! -name logs ! -name .sluice-kafka -exec rm -rf {} +
    else
        rm -rf "$KAFKA_DIR"
    fi
}

with_lock() {  # serialize start/stop for one port across concurrent callers
    exec 9>"$LOCK_FILE"
    if command -v flock >/dev/null 2>&1; then
        flock -w 180 9 || die "timed out waiting for $LOCK_FILE"
    fi
    "$@"
}

# ---------------------------------------------------------------- config

write_config() {
    cat >"$CONFIG" <<EOF
# Generated by scripts/kafka.sh - single-node KRaft broker for tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$KAFKA_DIR/data
metadata.log.dir=$KAFKA_DIR/metadata

# Single replica everywhere; transactions and consumer groups work with RF 1.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
offsets.topic.segment.bytes=16777216
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
transaction.state.log.segment.bytes=16777216
group.initial.rebalance.delay.ms=0
num.partitions=1
auto.create.topics.enable=false
delete.topic.enable=true

# Small footprint for a 2-core CI machine.
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
log.segment.bytes=16777216
log.index.size.max.bytes=1048576
log.retention.hours=24
log.retention.check.interval.ms=60000
metadata.log.segment.bytes=8388608
metadata.max.retention.bytes=33554432
socket.send.buffer.bytes=1048576
socket.receive.buffer.bytes=1048576
EOF
    cat >"$KAFKA_DIR/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$SERVER_LOG
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.clients=WARN
EOF
}

# 16 random bytes, URL-safe base64 without padding (Kafka Uuid format). Like
# Kafka's Uuid.randomUuid, never one starting with '-': the storage tool's
# argument parser takes "-t -xyz..." for a missing value and an option (one
# start in 64 failed with "argument --cluster-id/-t: expected one argument").
random_cluster_id() {
    local id
    while :; do
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
        [ "${id#-}" = "$id" ] && break
    done
    echo "$id"
}

# ---------------------------------------------------------------- commands

do_start() {
    local pid t0 cp cluster_id deadline
    t0=$(date +%s)

    if pid="$(broker_pid)"; then
        log "already running (pid $pid), waiting for it to answer"
    elif answering; then
        echo "kafka: ready on $BOOTSTRAP (already running, not started by this KAFKA_DIR)"
        return 0
    else
        port_in_use "$KAFKA_PORT" && die "port $KAFKA_PORT is in use by something that is not a Kafka broker"
        port_in_use "$KAFKA_CONTROLLER_PORT" && die "controller port $KAFKA_CONTROLLER_PORT is in use"
        need_tools
        cp="$(classpath)"

        if [ "${KAFKA_REUSE_DATA:-0}" != 1 ]; then
        wipe_dir                       # every start is a fresh, empty cluster
        mkdir -p "$KAFKA_DIR/data" "$KAFKA_DIR/metadata" "$LOG_DIR"
        : >"$MARKER"
        write_config

        cluster_id="$(random_cluster_id)"
        if ! timeout 60 java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
                -Dlog4j.configuration="file:$(tool_log4j)" -cp "$cp" \
                kafka.tools.StorageTool format -t "$cluster_id" -c "$CONFIG" \
                >"$LOG_DIR/format.out" 2>&1; then
            cat "$LOG_DIR/format.out" >&2
            die "formatting the KRaft storage failed"
        fi
        fi

        # setsid: the broker outlives the calling shell/test and ignores its ^C;
        # the inner shell writes its own pid and then becomes java (exec).
        # shellcheck disable=SC2016,SC2086  # $$ is for the inner shell; KAFKA_HEAP_OPTS is a flag list
        nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
            java $KAFKA_HEAP_OPTS -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
                -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
                -Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties" \
                -Dkafka.logs.dir="$LOG_DIR" \
                -cp "$cp" kafka.Kafka "$CONFIG" \
            >"$CONSOLE_LOG" 2>&1 </dev/null 9>&- &
        # Wait (bounded) for the pid file written by the child.
        deadline=$(( $(date +%s) + 10 ))
        until [ -s "$PID_FILE" ] || [ "$(date +%s)" -ge "$deadline" ]; do sleep 0.1; done
        [ -s "$PID_FILE" ] || die "broker process did not start (no pid file)"
        log "started broker pid $(cat "$PID_FILE"), log $SERVER_LOG"
    fi

    deadline=$(( t0 + KAFKA_START_TIMEOUT ))
    while :; do
        if answering; then
            echo "kafka: ready on $BOOTSTRAP ($(( $(date +%s) - t0 ))s)"
            return 0
        fi
        if ! broker_pid >/dev/null; then
            show_log_tail
            die "broker exited during startup"
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            show_log_tail
            kill_broker     # leave nothing behind; logs stay in $KAFKA_DIR until the next start/stop
            die "broker did not answer on $BOOTSTRAP within ${KAFKA_START_TIMEOUT}s (logs: $LOG_DIR)"
        fi
        sleep 0.5
    done
}

kill_broker() {  # SIGTERM our broker (if any), wait bounded, then SIGKILL
    local pid deadline
    pid="$(broker_pid)" || return 0
    log "stopping broker pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$(( $(date +%s) + KAFKA_STOP_TIMEOUT ))
    while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
        log "broker did not exit within ${KAFKA_STOP_TIMEOUT}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$(( $(date +%s) + 10 ))
        while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then die "could not kill broker pid $pid"; fi
    fi
    rm -f "$PID_FILE"
}

do_restart() {  # a broker crash: SIGKILL, then start again on the same data
    local pid deadline
    pid="$(broker_pid)" || die "no broker of $KAFKA_DIR to restart"
    log "killing broker pid $pid (SIGKILL)"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$(( $(date +%s) + 10 ))
    while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && die "could not kill broker pid $pid"
    rm -f "$PID_FILE"
    KAFKA_REUSE_DATA=1 do_start
}

do_stop() {
    kill_broker
    wipe_dir
    echo "kafka: stopped ($BOOTSTRAP)"
}

do_status() {
    local pid
    if pid="$(broker_pid)" && answering; then
        echo "kafka: running on $BOOTSTRAP (pid $pid)"
        return 0
    fi
    if answering; then
        echo "kafka: a broker answers on $BOOTSTRAP (not started from $KAFKA_DIR)"
        return 0
    fi
    echo "kafka: not running on $BOOTSTRAP"
    return 1
}

wait_partitions() {  # wait_partitions TOPIC N: until metadata shows N partitions (kcat only)
    command -v kcat >/dev/null 2>&1 || return 0
    local topic="$1" want="$2" deadline got
    deadline=$(( $(date +%s) + 30 ))
    while :; do
        got="$(timeout 10 kcat -b "$BOOTSTRAP" -L -t "$topic" -m 3 2>/dev/null \
               | grep -c 'partition [0-9]*, leader 1,' || true)"
        [ "$got" -ge "$want" ] && return 0
        [ "$(date +%s)" -ge "$deadline" ] && die "topic $topic: $got/$want partitions have a leader after 30s"
        sleep 0.2
    done
}

check_count() {
    case "$2" in ''|*[!0-9]*|0) die "$1 must be a positive integer, got '$2'";; esac
}

do_topic_create() {
    [ $# -eq 2 ] || die "usage: kafka.sh topic-create NAME PARTITIONS"
    check_count PARTITIONS "$2"
    run_tool 60 org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
        --create --if-not-exists --topic "$1" --partitions "$2" --replication-factor 1 >&2 \
        || die "creating topic $1 failed"
    wait_partitions "$1" "$2"
    echo "kafka: topic $1 ready"
}

do_topic_add_partitions() {
    [ $# -eq 2 ] || die "usage: kafka.sh topic-add-partitions NAME TOTAL"
    check_count TOTAL "$2"
    run_tool 60 org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
        --alter --topic "$1" --partitions "$2" >&2 \
        || die "altering topic $1 to $2 partitions failed"
    wait_partitions "$1" "$2"
    echo "kafka: topic $1 now has $2 partitions"
}

do_topic_delete() {
    [ $# -eq 1 ] || die "usage: kafka.sh topic-delete NAME"
    run_tool 60 org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
        --delete --if-exists --topic "$1" >&2 || die "deleting topic $1 failed"
    echo "kafka: topic $1 deleted"
}

do_env() {
    local cp
    cp="$(classpath)"
    printf 'KAFKA_BOOTSTRAP=%q\n' "$BOOTSTRAP"
    printf 'KAFKA_CLASSPATH=%q\n' "$cp"
}

usage() {
    sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
    start)                with_lock do_start ;;
    stop)                 with_lock do_stop ;;
    restart)              with_lock do_restart ;;
    status)               do_status ;;
    topic-create)         do_topic_create "$@" ;;
    topic-add-partitions) do_topic_add_partitions "$@" ;;
    topic-delete)         do_topic_delete "$@" ;;
    env)                  do_env ;;
    -h|--help|help)       usage ;;
    *)                    usage ;;
esac
