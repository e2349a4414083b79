# Apache Kafka (KRaft broker + console tools) from Maven Central, for the bus tests
# (test/helpers/kafka.ts starts a real broker from these jars). Sourced by .ci/run.
# Exports NAGARE_KAFKA_LIB: the directory holding the broker's whole classpath.
NAGARE_KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/.ci/kafka/pom.xml")
NAGARE_KAFKA_LIB="$HOME/.cache/nagare/kafka-$NAGARE_KAFKA_VERSION/lib"
if [ -f "$NAGARE_KAFKA_LIB/kafka_2.13-$NAGARE_KAFKA_VERSION.jar" ] && [ -f "$NAGARE_KAFKA_LIB/.complete" ]; then
  echo "kafka $NAGARE_KAFKA_VERSION jars cached in $NAGARE_KAFKA_LIB"
else
  command -v java >/dev/null || { echo "java (>= 17) is required for the Kafka broker" >&2; return 1; }
  if ! command -v mvn >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends maven </dev/null
  fi
  rm -rf "$NAGARE_KAFKA_LIB"
  mkdir -p "$NAGARE_KAFKA_LIB"
  # Only runtime jars: the broker's classpath is exactly this directory.
  (cd "$ROOT/.ci/kafka" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$NAGARE_KAFKA_LIB")
  touch "$NAGARE_KAFKA_LIB/.complete"
  echo "kafka $NAGARE_KAFKA_VERSION: $(ls "$NAGARE_KAFKA_LIB" | wc -l) jars in $NAGARE_KAFKA_LIB"
fi
java -version 2>&1 | head -1
# openssl: the secured listeners' throwaway CA and broker certificate (test/kafka-security.test.ts).
if ! command -v openssl >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends openssl </dev/null
fi
openssl version
export NAGARE_KAFKA_LIB NAGARE_KAFKA_VERSION
