# Real Trino/Presto clients for the Trino protocol endpoint's interop test
# (test/trino-clients.test.ts, docs/trino.md):
# - the Trino CLI (io.trino:trino-cli, an executable jar on Maven Central) and
#   the Trino JDBC driver (io.trino:trino-jdbc, what DBeaver uses), fetched
#   with Maven into ~/.m2 and copied to ~/.cache/nagare;
# - the Python clients re:dash's data sources use: PyHive (Presto source) and
#   trino (Trino source), pinned.
# The CLI needs Java 17+ (Debian 12's default JDK is 17; temurin 25 is used
# when present). Exports NAGARE_TRINO_CLI (the jar), NAGARE_TRINO_JAVA (the
# java binary), NAGARE_TRINO_JDBC (the driver jar) and NAGARE_TRINO_PYTHON
# (the python that has the clients).
_trino_cli_version=476
_trino_cache="$HOME/.cache/nagare"
_trino_jar="$_trino_cache/trino-cli-$_trino_cli_version-executable.jar"
_trino_jdbc="$_trino_cache/trino-jdbc-$_trino_cli_version.jar"
mkdir -p "$_trino_cache"
if [ -s "$_trino_jar" ] && [ -s "$_trino_jdbc" ]; then
  echo "trino-cli $_trino_cli_version present: $_trino_jar"
else
  command -v mvn >/dev/null 2>&1 || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends maven </dev/null
  }
  mvn -q -B dependency:copy \
    "-Dartifact=io.trino:trino-cli:$_trino_cli_version:jar:executable" \
    "-DoutputDirectory=$_trino_cache" </dev/null
  mvn -q -B dependency:copy \
    "-Dartifact=io.trino:trino-jdbc:$_trino_cli_version" \
    "-DoutputDirectory=$_trino_cache" </dev/null
fi
[ -s "$_trino_jar" ] || { echo "trino-cli jar missing after mvn: $_trino_jar" >&2; exit 1; }
[ -s "$_trino_jdbc" ] || { echo "trino-jdbc jar missing after mvn: $_trino_jdbc" >&2; exit 1; }

NAGARE_TRINO_JAVA=""
for _j in /usr/lib/jvm/temurin-25-jdk-amd64/bin/java "$(command -v java || true)"; do
  if [ -n "$_j" ] && [ -x "$_j" ]; then NAGARE_TRINO_JAVA="$_j"; break; fi
done
if [ -z "$NAGARE_TRINO_JAVA" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends openjdk-17-jdk-headless </dev/null
  NAGARE_TRINO_JAVA=$(command -v java)
fi
"$NAGARE_TRINO_JAVA" -jar "$_trino_jar" --version

NAGARE_TRINO_PYTHON=$(command -v python3)
"$NAGARE_TRINO_PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
  "trino==0.336.0" "PyHive==0.7.0" "requests==2.34.2" </dev/null
"$NAGARE_TRINO_PYTHON" -c 'import trino, pyhive.presto, requests; print("trino", trino.__version__, "pyhive ok")'

NAGARE_TRINO_CLI="$_trino_jar"
NAGARE_TRINO_JDBC="$_trino_jdbc"
export NAGARE_TRINO_CLI NAGARE_TRINO_JDBC NAGARE_TRINO_JAVA NAGARE_TRINO_PYTHON
unset _trino_cli_version _trino_cache _trino_jar _trino_jdbc _j
