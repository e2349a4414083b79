# Shared by scripts/trino/run.sh and scripts/presto/run.sh (sourced, not run):
# assemble a Trino/PrestoSQL server from the jars Maven Central serves.
#
# Why: Maven Central here serves neither the server tarball nor the plugins'
# zip packaging, only the jars with their poms. So lib/ is the main module's
# runtime dependencies and plugin/<name>/ each plugin's, resolved by Maven.

# maven_resolve groupId artifactId version outdir pomdir [excluded groupId]
# Copy the artifact and its runtime dependencies into outdir, through a
# throwaway pom in pomdir (Maven's own resolution: nearest wins, exclusions).
maven_resolve() {
  local group="$1" artifact="$2" version="$3" out="$4" pomdir="$5" excl=""
  if [[ -n "${6:-}" ]]; then
    excl="<exclusions><exclusion><groupId>$6</groupId><artifactId>*</artifactId></exclusion></exclusions>"
  fi
  mkdir -p "$pomdir" "$out"
  cat >"$pomdir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>nagare</groupId><artifactId>$artifact-deps</artifactId><version>1</version><packaging>pom</packaging>
<dependencies><dependency><groupId>$group</groupId><artifactId>$artifact</artifactId><version>$version</version>$excl</dependency></dependencies>
</project>
POM
  (cd "$pomdir" && mvn -B -q dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$out") >&2
}

# maven_service_jar javahome spiInterface plugindir pluginClass
# A plugin's jar on Maven Central lacks META-INF/services/<spi>.Plugin (the
# trino-/presto-maven-plugin writes it into the plugin zip, which is not
# served), so a one-file jar naming the plugin class goes beside its jars.
maven_service_jar() {
  local tmp
  tmp="$(mktemp -d)"
  mkdir -p "$tmp/META-INF/services"
  echo "$4" >"$tmp/META-INF/services/$2"
  "$1/bin/jar" --create --file "$3/nagare-plugin-service.jar" -C "$tmp" META-INF
  rm -rf "$tmp"
}

# maven_wait_started url pidfile name logfile
# Wait until the coordinator's /v1/info says it is no longer starting; print
# the URL. Fails with the log's last errors if the JVM exits, or after 180 s.
maven_wait_started() {
  local url="$1" pidfile="$2" name="$3" log="$4"
  for _ in $(seq 1 180); do
    if curl -sf "$url/v1/info" 2>/dev/null | grep -q '"starting":false'; then
      echo "$url"
      return 0
    fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "$name exited; last lines of $log:" >&2
      grep -E "ERROR|Exception" "$log" | cut -c1-400 | tail -10 >&2
      return 1
    fi
    sleep 1
  done
  echo "$name did not start within 180 s ($log)" >&2
  return 1
}

# maven_stop pidfile: stop the server a `start` left running (up to 30 s).
maven_stop() {
  if [[ -f "$1" ]]; then
    local pid
    pid="$(cat "$1")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    rm -f "$1"
  fi
}
