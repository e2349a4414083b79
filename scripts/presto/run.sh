#!/usr/bin/env bash
# Start ONE real PrestoSQL server (Trino's former name), assembled from Maven
# Central, that serves both halves of issue 7: a `kafka` catalog reading
# Nagare's topics through the table descriptions `nagare trino-tables` writes,
# and a `hive` catalog over Nagare's Parquet export, on which Nagare's explorer
# runs with query.engine.kind trino, protocol presto (docs/trino.md "One
# PrestoSQL server: Kafka, Hive and the explorer").
#
#   scripts/presto/run.sh fetch   download PrestoSQL $PRESTO_VERSION (server + kafka and hive plugins)
#   scripts/presto/run.sh start   write etc/ (hive catalog; kafka catalog when PRESTO_KAFKA_NODES is set)
#                                 and start a single-node coordinator; prints its URL
#   scripts/presto/run.sh stop    stop the server started by `start`
#   scripts/presto/run.sh demo    fetch, then run test/presto-kafka.test.ts end to end (Kafka broker →
#                                 Nagare producer → trino-tables → this Presto with both catalogs; Parquet
#                                 export → hive table; old-pipeline and explorer queries compared with
#                                 Nagare's own answers); prints a pass/fail summary
#
# Environment:
#   PRESTO_VERSION       350 (PrestoSQL; Java 11+, runs on the default Java 17)
#   PRESTO_JAVA_HOME     /usr/lib/jvm/java-17-openjdk-amd64
#   PRESTO_PORT          8090 (127.0.0.1 only)
#   PRESTO_HOME          ~/.cache/nagare/presto/run (etc/, data/, metastore/, server.log, pid)
#   PRESTO_KAFKA_NODES   host:port of the Kafka broker(s); unset = no kafka catalog
#   PRESTO_KAFKA_TABLES  the directory `nagare trino-tables --out DIR` wrote (required with
#                        PRESTO_KAFKA_NODES); its kafka.properties.example gives kafka.table-names
#   PRESTO_XMX           1G
#
# Why PrestoSQL 350: Maven Central here serves no io.trino:trino-kafka (checked
# again for 483 and 352, and no trino-kafka-event-listener either); it serves
# io.prestosql:presto-kafka:350, the last PrestoSQL before the rename, whose
# connector reads the same table-description JSON, and presto-hive-hadoop2:350.
# Why assembled (scripts/lib/maven.sh): the server tarball and the plugin zips
# are not served, the jars are: lib/ is presto-main's runtime dependencies,
# plugin/kafka/ presto-kafka's (minus io.confluent, not on Maven Central and
# used only by the CONFLUENT table-description supplier; two empty types from
# confluent-linkage/ let the connector link without it), plugin/hive/
# presto-hive-hadoop2's (Hadoop shaded in hadoop-apache).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PRESTO_VERSION="${PRESTO_VERSION:-350}"
PRESTO_JAVA_HOME="${PRESTO_JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
PRESTO_PORT="${PRESTO_PORT:-8090}"
CACHE="${NAGARE_PRESTO_CACHE:-$HOME/.cache/nagare/presto}"
DIST="$CACHE/$PRESTO_VERSION"
PRESTO_HOME="${PRESTO_HOME:-$CACHE/run}"
PRESTO_XMX="${PRESTO_XMX:-1G}"

# shellcheck source=../lib/maven.sh
source "$HERE/../lib/maven.sh"
resolve() { maven_resolve io.prestosql "$1" "$PRESTO_VERSION" "$2" "$CACHE/poms/$1" "${3:-}"; }
service_jar() { maven_service_jar "$PRESTO_JAVA_HOME" io.prestosql.spi.Plugin "$@"; }

fetch() {
  if [[ -f "$DIST/.complete" ]]; then return 0; fi
  echo "fetching PrestoSQL $PRESTO_VERSION into $DIST" >&2
  rm -rf "$DIST"
  resolve presto-main "$DIST/lib"
  # jmx-http-rpc 0.159 drags in guice-multibindings 4.0, whose classes shadow
  # the multibinder built into guice 4.2.3 ("A binding to Set<…> was already
  # configured"); the presto-server tarball does not ship it either.
  rm -f "$DIST"/lib/guice-multibindings-*.jar
  resolve presto-kafka "$DIST/plugin/kafka" io.confluent
  service_jar "$DIST/plugin/kafka" io.prestosql.plugin.kafka.KafkaPlugin
  # presto-kafka 350 constructs its ConfluentModule whatever the supplier, and
  # that class names two io.confluent types (not on Maven Central): empty
  # types of those names let it link (confluent-linkage/; FILE supplier only).
  local tmp
  tmp="$(mktemp -d)"
  "$PRESTO_JAVA_HOME/bin/javac" -d "$tmp" $(find "$HERE/confluent-linkage" -name '*.java')
  "$PRESTO_JAVA_HOME/bin/jar" --create --file "$DIST/plugin/kafka/nagare-confluent-linkage.jar" -C "$tmp" io
  rm -rf "$tmp"
  mkdir -p "$DIST/launcher"
  "$PRESTO_JAVA_HOME/bin/javac" -cp "$DIST/lib/*" -d "$DIST/launcher" "$HERE/NagarePrestoLauncher.java"
  touch "$DIST/.complete"
}

# The Hive connector, fetched on its own (a cache from before it was added
# keeps its lib/ and kafka plugin). presto-hive-hadoop2 marks presto-spi and
# slice as runtime dependencies; the server's own copies must be the only
# ones (the plugin class loader hands io.prestosql.spi and slice to the parent
# anyway), so the plugin's copies go.
fetch_hive() {
  if [[ -f "$DIST/plugin/hive/.complete" ]]; then return 0; fi
  echo "fetching the PrestoSQL $PRESTO_VERSION Hive connector into $DIST/plugin/hive" >&2
  rm -rf "$DIST/plugin/hive"
  resolve presto-hive-hadoop2 "$DIST/plugin/hive"
  rm -f "$DIST"/plugin/hive/presto-spi-*.jar "$DIST"/plugin/hive/slice-*.jar
  service_jar "$DIST/plugin/hive" io.prestosql.plugin.hive.HiveHadoop2Plugin
  touch "$DIST/plugin/hive/.complete"
}

write_etc() {
  mkdir -p "$PRESTO_HOME/etc/catalog" "$PRESTO_HOME/data" "$PRESTO_HOME/metastore"
  cat >"$PRESTO_HOME/etc/config.properties" <<CFG
coordinator=true
node-scheduler.include-coordinator=true
http-server.http.port=$PRESTO_PORT
discovery-server.enabled=true
discovery.uri=http://127.0.0.1:$PRESTO_PORT
query.max-memory=512MB
query.max-memory-per-node=256MB
query.max-total-memory-per-node=384MB
plugin.dir=$DIST/plugin
catalog.config-dir=$PRESTO_HOME/etc/catalog
CFG
  echo "io.prestosql=INFO" >"$PRESTO_HOME/etc/log.properties"
  # The Hive connector over the local lake: a file metastore (no Hive
  # metastore service) under file://, external tables only pointing at
  # Nagare's export (dropping one drops its metadata, never the files).
  # Parquet columns by name, not position: Presto 350 reads them by position
  # unless told, and the export's column order is not a contract of the
  # table's DDL.
  cat >"$PRESTO_HOME/etc/catalog/hive.properties" <<CFG
connector.name=hive-hadoop2
hive.metastore=file
hive.metastore.catalog.dir=file://$PRESTO_HOME/metastore
hive.metastore.user=nagare
hive.parquet.use-column-names=true
hive.non-managed-table-writes-enabled=false
hive.allow-register-partition-procedure=true
hive.allow-drop-table=true
CFG
  rm -f "$PRESTO_HOME/etc/catalog/kafka.properties"
  if [[ -z "${PRESTO_KAFKA_NODES:-}" ]]; then return 0; fi
  local tables="${PRESTO_KAFKA_TABLES:?PRESTO_KAFKA_TABLES must name the dir nagare trino-tables wrote}"
  local names
  # The table-names entry nagare wrote beside the descriptions ("schema.table": see
  # src/bus/trino-tables.ts for why the topic's own dotted name cannot be used).
  names="$(sed -n 's/^kafka\.table-names=//p' "$tables/kafka.properties.example" 2>/dev/null || true)"
  if [[ -z "$names" ]]; then
    echo "$tables/kafka.properties.example has no kafka.table-names (run nagare trino-tables --out $tables)" >&2
    return 1
  fi
  # kafka.properties.example as nagare wrote it, with this broker.
  cat >"$PRESTO_HOME/etc/catalog/kafka.properties" <<CFG
connector.name=kafka
kafka.nodes=$PRESTO_KAFKA_NODES
kafka.table-description-supplier=FILE
kafka.table-description-dir=$tables
kafka.table-names=$names
kafka.hide-internal-columns=false
CFG
}

# PrestoSQL 350 was built for Java 11, where reflection into the JDK only
# warned; Java 17 refuses it unless opened (Guice's cglib defines classes
# through ClassLoader.defineClass, airlift/slice and the joni/ASM code paths
# reach into java.nio and sun.nio.ch).
OPENS=()
for p in java.lang java.lang.reflect java.lang.invoke java.io java.net java.nio java.util java.util.concurrent \
  java.util.concurrent.atomic sun.nio.ch jdk.internal.misc jdk.internal.ref; do
  OPENS+=("--add-opens=java.base/$p=ALL-UNNAMED")
done

start() {
  fetch
  fetch_hive
  write_etc
  if [[ -f "$PRESTO_HOME/pid" ]] && kill -0 "$(cat "$PRESTO_HOME/pid")" 2>/dev/null; then
    echo "already running (pid $(cat "$PRESTO_HOME/pid"))" >&2
  else
    (cd "$PRESTO_HOME" && exec "$PRESTO_JAVA_HOME/bin/java" -server "-Xmx$PRESTO_XMX" \
      -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -XX:-OmitStackTraceInFastThrow -XX:ReservedCodeCacheSize=128M \
      -Djdk.attach.allowAttachSelf=true -Dfile.encoding=UTF-8 -Duser.timezone=UTC \
      "${OPENS[@]}" \
      -Dconfig="$PRESTO_HOME/etc/config.properties" -Dlog.levels-file="$PRESTO_HOME/etc/log.properties" \
      -Dnode.environment=nagare -Dnode.id=nagare-presto-1 -Dnode.data-dir="$PRESTO_HOME/data" -Dnode.internal-address=127.0.0.1 \
      -Dnagare.presto.version="$PRESTO_VERSION" \
      -cp "$DIST/launcher:$DIST/lib/*" NagarePrestoLauncher >"$PRESTO_HOME/server.log" 2>&1) &
    echo $! >"$PRESTO_HOME/pid"
  fi
  maven_wait_started "http://127.0.0.1:$PRESTO_PORT" "$PRESTO_HOME/pid" Presto "$PRESTO_HOME/server.log"
}

stop() { maven_stop "$PRESTO_HOME/pid"; }

case "${1:-}" in
  fetch)
    fetch
    fetch_hive
    ;;
  start) start ;;
  stop) stop ;;
  demo)
    fetch
    fetch_hive
    # test/presto-kafka.test.ts starts the broker, publishes a capture through Nagare's producer,
    # runs `nagare trino-tables`, starts Presto (kafka + hive catalogs) through this script, runs the
    # old-pipeline queries on the topic, then registers a Parquet export in the hive catalog and runs
    # the old-pipeline and explorer queries there (test/presto-lake.ts); it stops Presto at the end.
    log="$(mktemp)"
    set +e
    (cd "$HERE/../.." && NAGARE_PRESTO_KAFKA=1 node --import tsx --test --test-reporter=spec \
      test/presto-kafka.test.ts) 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    echo
    echo "== demo summary: one PrestoSQL $PRESTO_VERSION with the kafka and hive catalogs, Nagare's explorer on it"
    # The spec reporter's per-test lines (up to its totals; it repeats the failures after them).
    awk '/ℹ tests/{exit} /^ *(✔|✖) /' "$log"
    pass="$(sed -n 's/^ℹ pass //p' "$log")"
    fail="$(sed -n 's/^ℹ fail //p' "$log")"
    rm -f "$log"
    echo "${pass:-0} passed, ${fail:-0} failed"
    if [[ $rc -ne 0 || -z "$pass" || "${fail:-1}" != 0 ]]; then
      echo "DEMO FAILED (test exit $rc)"
      exit 1
    fi
    echo "DEMO PASSED"
    ;;
  *)
    sed -n '2,16p' "$0" >&2
    exit 2
    ;;
esac
