#!/usr/bin/env bash
# Start a real PrestoSQL server (Trino's former name), assembled from Maven
# Central, whose Kafka connector reads Nagare's topics through the table
# descriptions `nagare trino-tables` writes (docs/trino.md "Presto reading
# Nagare's Kafka topics").
#
#   scripts/presto/run.sh fetch   download PrestoSQL $PRESTO_VERSION (server + kafka plugin)
#   scripts/presto/run.sh start   write etc/ (kafka catalog) and start a single-node coordinator; prints its URL
#   scripts/presto/run.sh stop    stop the server started by `start`
#   scripts/presto/run.sh demo    fetch, then run test/presto-kafka.test.ts (Kafka broker → Nagare
#                                 producer → trino-tables → this Presto → compared with Nagare's SQL)
#
# Environment:
#   PRESTO_VERSION       350 (PrestoSQL; Java 11+, runs on the default Java 17)
#   PRESTO_JAVA_HOME     /usr/lib/jvm/java-17-openjdk-amd64
#   PRESTO_PORT          8090 (127.0.0.1 only)
#   PRESTO_HOME          ~/.cache/nagare/presto/run (etc/, data/, server.log, pid)
#   PRESTO_KAFKA_NODES   host:port of the Kafka broker(s) (required by start)
#   PRESTO_KAFKA_TABLES  the directory `nagare trino-tables --out DIR` wrote (required by start); its
#                        kafka.properties.example gives kafka.table-names
#   PRESTO_XMX           1G
#
# Why PrestoSQL 350: Maven Central here serves no io.trino:trino-kafka (any
# version); it serves io.prestosql:presto-kafka:350, the last PrestoSQL before
# the rename, whose connector reads the same table-description JSON. Why
# assembled: like scripts/trino/run.sh, the server tarball and the plugin zips
# are not served, the jars are: lib/ is presto-main's runtime dependencies,
# plugin/kafka/ presto-kafka's (minus io.confluent, not on Maven Central and
# used only by the CONFLUENT table-description supplier; two empty types from
# confluent-linkage/ let the connector link without it).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PRESTO_VERSION="${PRESTO_VERSION:-350}"
PRESTO_JAVA_HOME="${PRESTO_JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
PRESTO_PORT="${PRESTO_PORT:-8090}"
CACHE="${NAGARE_PRESTO_CACHE:-$HOME/.cache/nagare/presto}"
DIST="$CACHE/$PRESTO_VERSION"
PRESTO_HOME="${PRESTO_HOME:-$CACHE/run}"
PRESTO_XMX="${PRESTO_XMX:-1G}"

# presto-kafka's jar on Maven Central lacks META-INF/services/io.prestosql.spi.Plugin
# (presto-maven-plugin writes it into the plugin zip), so a one-file jar naming
# the plugin class goes beside the plugin's jars.
service_jar() { # plugindir pluginclass
  local tmp
  tmp="$(mktemp -d)"
  mkdir -p "$tmp/META-INF/services"
  echo "$2" >"$tmp/META-INF/services/io.prestosql.spi.Plugin"
  "$PRESTO_JAVA_HOME/bin/jar" --create --file "$1/nagare-plugin-service.jar" -C "$tmp" META-INF
  rm -rf "$tmp"
}

resolve() { # artifactId outdir [excluded groupId]
  local pomdir="$CACHE/poms/$1" excl=""
  if [[ -n "${3:-}" ]]; then
    excl="<exclusions><exclusion><groupId>$3</groupId><artifactId>*</artifactId></exclusion></exclusions>"
  fi
  mkdir -p "$pomdir" "$2"
  cat >"$pomdir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>nagare</groupId><artifactId>$1-deps</artifactId><version>1</version><packaging>pom</packaging>
<dependencies><dependency><groupId>io.prestosql</groupId><artifactId>$1</artifactId><version>$PRESTO_VERSION</version>$excl</dependency></dependencies>
</project>
POM
  (cd "$pomdir" && mvn -B -q dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$2") >&2
}

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

write_etc() {
  local tables="${PRESTO_KAFKA_TABLES:?PRESTO_KAFKA_TABLES must name the dir nagare trino-tables wrote}"
  local nodes="${PRESTO_KAFKA_NODES:?PRESTO_KAFKA_NODES must name the Kafka broker (host:port)}"
  local names
  # The table-names entry nagare wrote beside the descriptions ("schema.table": see
  # src/bus/trino-tables.ts for why the topic's own dotted name cannot be used).
  names="$(sed -n 's/^kafka\.table-names=//p' "$tables/kafka.properties.example" 2>/dev/null || true)"
  if [[ -z "$names" ]]; then
    echo "$tables/kafka.properties.example has no kafka.table-names (run nagare trino-tables --out $tables)" >&2
    return 1
  fi
  mkdir -p "$PRESTO_HOME/etc/catalog" "$PRESTO_HOME/data"
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
  # kafka.properties.example as nagare wrote it, with this broker.
  cat >"$PRESTO_HOME/etc/catalog/kafka.properties" <<CFG
connector.name=kafka
kafka.nodes=$nodes
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
  local url="http://127.0.0.1:$PRESTO_PORT"
  for _ in $(seq 1 180); do
    if curl -sf "$url/v1/info" 2>/dev/null | grep -q '"starting":false'; then
      echo "$url"
      return 0
    fi
    if ! kill -0 "$(cat "$PRESTO_HOME/pid")" 2>/dev/null; then
      echo "Presto exited; last lines of $PRESTO_HOME/server.log:" >&2
      grep -E "ERROR|Exception" "$PRESTO_HOME/server.log" | cut -c1-400 | tail -10 >&2
      return 1
    fi
    sleep 1
  done
  echo "Presto did not start within 180 s ($PRESTO_HOME/server.log)" >&2
  return 1
}

stop() {
  if [[ -f "$PRESTO_HOME/pid" ]]; then
    local pid
    pid="$(cat "$PRESTO_HOME/pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    rm -f "$PRESTO_HOME/pid"
  fi
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  demo)
    fetch
    # test/presto-kafka.test.ts starts the broker, publishes a capture through Nagare's producer,
    # runs `nagare trino-tables`, then starts and stops Presto through this script.
    (cd "$HERE/../.." && NAGARE_PRESTO_KAFKA=1 node --import tsx --test test/presto-kafka.test.ts)
    ;;
  *)
    sed -n '2,11p' "$0" >&2
    exit 2
    ;;
esac
