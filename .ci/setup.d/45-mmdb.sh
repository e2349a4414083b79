# mmdbgen: writes the small GeoIP/ASN .mmdb files the enrichment tests read
# (test/enrich-e2e.test.ts, test/enrich-filter.test.ts, bench/enrich.ts),
# with MaxMind's own writer library (github.com/maxmind/mmdbwriter, pinned in
# go.sum). Built with Go from test/tools/mmdbgen; the binary is cached under
# ~/.cache/nagare keyed by a hash of its sources, so a second run is instant.
# Go >= 1.24 is needed (mmdbwriter's go.mod): a go on PATH or /usr/local/go
# is used (GOTOOLCHAIN=auto fetches a newer toolchain through the module
# proxy when it is older); without one, the official tarball is downloaded
# once into ~/.cache/nagare.
_mmdb_src="$ROOT/test/tools/mmdbgen"
_mmdb_hash=$(cat "$_mmdb_src"/go.mod "$_mmdb_src"/go.sum "$_mmdb_src"/*.go | sha256sum | cut -c1-16)
_mmdb_dir="$HOME/.cache/nagare/mmdbgen-$_mmdb_hash"
if [ -x "$_mmdb_dir/mmdbgen" ]; then
  echo "mmdbgen $_mmdb_hash cached"
else
  _mmdb_go=$(command -v go || true)
  [ -n "$_mmdb_go" ] || { [ -x /usr/local/go/bin/go ] && _mmdb_go=/usr/local/go/bin/go; } || true
  if [ -z "$_mmdb_go" ]; then
    _mmdb_gover=1.24.6
    _mmdb_goroot="$HOME/.cache/nagare/go-$_mmdb_gover"
    if [ ! -x "$_mmdb_goroot/bin/go" ]; then
      mkdir -p "$_mmdb_goroot.tmp"
      curl -fsSL "https://go.dev/dl/go$_mmdb_gover.linux-$(dpkg --print-architecture 2>/dev/null || echo amd64).tar.gz" |
        tar -xz -C "$_mmdb_goroot.tmp" --strip-components=1
      rm -rf "$_mmdb_goroot" && mv "$_mmdb_goroot.tmp" "$_mmdb_goroot"
    fi
    _mmdb_go="$_mmdb_goroot/bin/go"
  fi
  echo "building mmdbgen with $("$_mmdb_go" version)"
  mkdir -p "$_mmdb_dir"
  (cd "$_mmdb_src" && GOTOOLCHAIN=auto GOFLAGS=-mod=readonly "$_mmdb_go" build -trimpath -o "$_mmdb_dir/mmdbgen.tmp" .)
  mv "$_mmdb_dir/mmdbgen.tmp" "$_mmdb_dir/mmdbgen"
fi
NAGARE_MMDBGEN="$_mmdb_dir/mmdbgen"
export NAGARE_MMDBGEN
echo "NAGARE_MMDBGEN=$NAGARE_MMDBGEN"
unset _mmdb_src _mmdb_hash _mmdb_dir _mmdb_go _mmdb_gover _mmdb_goroot
