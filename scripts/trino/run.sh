#!/usr/bin/env bash
# Start a real Trino server, assembled from Maven Central, for Nagare's lake
# (docs/trino.md "A real Trino server on this machine").
#
#   scripts/trino/run.sh fetch          download Trino $TRINO_VERSION (server + hive + memory plugins)
#   scripts/trino/run.sh start          write etc/ and start a single-node coordinator; prints its URL
#   scripts/trino/run.sh stop           stop the server started by `start`
#   scripts/trino/run.sh demo           fetch, start, run test/trino-engine.test.ts against it (Trino vs Nagare), stop
#
# Environment:
#   TRINO_VERSION      483 (needs Java 25)
#   TRINO_JAVA_HOME    /usr/lib/jvm/temurin-25-jdk-amd64
#   TRINO_PORT         8089 (127.0.0.1 only)
#   TRINO_HOME         ~/.cache/nagare/trino/run (etc/, data/, log, pid)
#   TRINO_KAFKA_NODES  host:port of a Kafka broker; with TRINO_KAFKA_TABLES (the dir `nagare trino-tables`
#                      wrote) a `kafka` catalog is added — only when a Kafka connector plugin is installed
#                      under plugin/kafka (Maven Central does not serve io.trino:trino-kafka, any
#                      version, nor trino-kafka-event-listener: scripts/presto/run.sh runs PrestoSQL 350
#                      with the kafka and hive catalogs in one server instead; docs/trino.md)
#   TRINO_XMX          2G
#
# Why assembled (scripts/lib/maven.sh): Maven Central here serves neither
# io.trino:trino-server:tar.gz nor trino-server-main nor the plugins' zip
# packaging; it does serve the jars (trino-main, trino-hive, trino-memory …)
# with their poms, so lib/ is trino-main's runtime dependencies and
# plugin/<name>/ each plugin's, resolved by Maven, and NagareTrinoLauncher.java
# calls io.trino.server.Server.start (what TrinoServer.main does).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TRINO_VERSION="${TRINO_VERSION:-483}"
TRINO_JAVA_HOME="${TRINO_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
TRINO_PORT="${TRINO_PORT:-8089}"
CACHE="${NAGARE_TRINO_CACHE:-$HOME/.cache/nagare/trino}"
DIST="$CACHE/$TRINO_VERSION"
TRINO_HOME="${TRINO_HOME:-$CACHE/run}"
TRINO_XMX="${TRINO_XMX:-2G}"

# shellcheck source=../lib/maven.sh
source "$HERE/../lib/maven.sh"
resolve() { maven_resolve io.trino "$1" "$TRINO_VERSION" "$2" "$CACHE/poms/$1"; }
service_jar() { maven_service_jar "$TRINO_JAVA_HOME" io.trino.spi.Plugin "$@"; }

fetch() {
  if [[ -f "$DIST/.complete" ]]; then return 0; fi
  echo "fetching Trino $TRINO_VERSION into $DIST" >&2
  resolve trino-main "$DIST/lib"
  resolve trino-hive "$DIST/plugin/hive"
  resolve trino-memory "$DIST/plugin/memory"
  service_jar "$DIST/plugin/hive" io.trino.plugin.hive.HivePlugin
  service_jar "$DIST/plugin/memory" io.trino.plugin.memory.MemoryPlugin
  mkdir -p "$DIST/launcher"
  "$TRINO_JAVA_HOME/bin/javac" -cp "$DIST/lib/*" -d "$DIST/launcher" "$HERE/NagareTrinoLauncher.java"
  touch "$DIST/.complete"
}

write_etc() {
  mkdir -p "$TRINO_HOME/etc/catalog" "$TRINO_HOME/data" "$TRINO_HOME/metastore"
  cat >"$TRINO_HOME/etc/config.properties" <<CFG
coordinator=true
node-scheduler.include-coordinator=true
http-server.http.port=$TRINO_PORT
discovery.uri=http://127.0.0.1:$TRINO_PORT
query.max-memory=1GB
query.max-memory-per-node=512MB
plugin.dir=$DIST/plugin
catalog.config-dir=$TRINO_HOME/etc/catalog
CFG
  cat >"$TRINO_HOME/etc/log.properties" <<CFG
io.trino=INFO
CFG
  # The Hive connector over the local lake: a file metastore (no Hive
  # metastore service) and the native local file system, both under
  # local:// URIs; external tables only point at Nagare's export.
  cat >"$TRINO_HOME/etc/catalog/hive.properties" <<CFG
connector.name=hive
hive.metastore=file
hive.metastore.catalog.dir=local://$TRINO_HOME/metastore
fs.native-local.enabled=true
local.location=/
hive.non-managed-table-writes-enabled=false
hive.allow-register-partition-procedure=true
CFG
  echo "connector.name=memory" >"$TRINO_HOME/etc/catalog/memory.properties"
  rm -f "$TRINO_HOME/etc/catalog/kafka.properties"
  if [[ -n "${TRINO_KAFKA_NODES:-}" && -d "$DIST/plugin/kafka" ]]; then
    cat >"$TRINO_HOME/etc/catalog/kafka.properties" <<CFG
connector.name=kafka
kafka.nodes=$TRINO_KAFKA_NODES
kafka.table-description-supplier=FILE
kafka.table-description-dir=${TRINO_KAFKA_TABLES:?TRINO_KAFKA_TABLES must name the dir nagare trino-tables wrote}
kafka.hide-internal-columns=false
CFG
  fi
}

start() {
  fetch
  write_etc
  if [[ -f "$TRINO_HOME/pid" ]] && kill -0 "$(cat "$TRINO_HOME/pid")" 2>/dev/null; then
    echo "already running (pid $(cat "$TRINO_HOME/pid"))" >&2
  else
    (cd "$TRINO_HOME" && exec "$TRINO_JAVA_HOME/bin/java" -server "-Xmx$TRINO_XMX" \
      -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -XX:-OmitStackTraceInFastThrow -XX:ReservedCodeCacheSize=256M \
      -Djdk.attach.allowAttachSelf=true -Dfile.encoding=UTF-8 -Duser.timezone=UTC -XX:+EnableDynamicAgentLoading \
      --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow --add-modules=jdk.incubator.vector \
      -Dconfig="$TRINO_HOME/etc/config.properties" -Dlog.levels-file="$TRINO_HOME/etc/log.properties" \
      -Dnode.environment=nagare -Dnode.id=nagare-trino-1 -Dnode.data-dir="$TRINO_HOME/data" -Dnode.internal-address=127.0.0.1 \
      -Dnagare.trino.version="$TRINO_VERSION" \
      -cp "$DIST/launcher:$DIST/lib/*" NagareTrinoLauncher >"$TRINO_HOME/server.log" 2>&1) &
    echo $! >"$TRINO_HOME/pid"
  fi
  maven_wait_started "http://127.0.0.1:$TRINO_PORT" "$TRINO_HOME/pid" Trino "$TRINO_HOME/server.log"
}

stop() { maven_stop "$TRINO_HOME/pid"; }

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  demo)
    url="$(start)"
    trap stop EXIT
    # test/trino-engine.test.ts: a capture → store → Parquet export → Hive table in this Trino, then the
    # operators' queries and Nagare's explorer queries on both engines, compared.
    (cd "$HERE/../.." && NAGARE_TRINO_SERVER="$url" node --import tsx --test test/trino-engine.test.ts)
    ;;
  *)
    sed -n '2,9p' "$0" >&2
    exit 2
    ;;
esac
