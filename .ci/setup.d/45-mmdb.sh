# mmdbgen: writes the small GeoIP/ASN .mmdb files the enrichment tests read
# (test/enrich-geoip.test.ts, test/enrich-e2e.test.ts), with MaxMind's own
# writer library (github.com/maxmind/mmdbwriter, pinned in go.sum). Built
# with Go from test/tools/mmdbgen; the binary is cached under
# ~/.cache/nagare keyed by a hash of its sources, so a second run is instant.
_mmdb_src="$ROOT/test/tools/mmdbgen"
_mmdb_hash=$(cat "$_mmdb_src"/go.mod "$_mmdb_src"/go.sum "$_mmdb_src"/*.go | sha256sum | cut -c1-16)
_mmdb_dir="$HOME/.cache/nagare/mmdbgen-$_mmdb_hash"
if [ -x "$_mmdb_dir/mmdbgen" ]; then
  echo "mmdbgen $_mmdb_hash cached"
else
  command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || {
    echo "Go is needed to build test/tools/mmdbgen (the .mmdb writer for the GeoIP tests)" >&2
    exit 1
  }
  _mmdb_go=$(command -v go || echo /usr/local/go/bin/go)
  mkdir -p "$_mmdb_dir"
  (cd "$_mmdb_src" && GOFLAGS=-mod=readonly "$_mmdb_go" build -trimpath -o "$_mmdb_dir/mmdbgen.tmp" .)
  mv "$_mmdb_dir/mmdbgen.tmp" "$_mmdb_dir/mmdbgen"
fi
NAGARE_MMDBGEN="$_mmdb_dir/mmdbgen"
export NAGARE_MMDBGEN
echo "NAGARE_MMDBGEN=$NAGARE_MMDBGEN"
unset _mmdb_src _mmdb_hash _mmdb_dir _mmdb_go
