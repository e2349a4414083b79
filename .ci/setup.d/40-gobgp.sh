# GoBGP (gobgpd + the gobgp CLI) for the routing enrichment tests
# (test/enrich-bgp*.test.ts, test/enrich-bmp*.test.ts): the tests start gobgpd
# on loopback, peer it with our BGP listener and point its bmp-servers at our
# BMP station, then announce and withdraw routes with the gobgp CLI.
# Debian 12 ships gobgpd 3.10; the package contains both binaries.
_gobgp_sudo=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then _gobgp_sudo="sudo -n"; fi
if command -v gobgpd >/dev/null 2>&1 && command -v gobgp >/dev/null 2>&1; then
  echo "gobgpd and gobgp present, skipping apt-get"
else
  export DEBIAN_FRONTEND=noninteractive
  $_gobgp_sudo apt-get update -q
  $_gobgp_sudo apt-get install -y -q --no-install-recommends gobgpd </dev/null
fi
command -v gobgpd >/dev/null 2>&1 || { echo "gobgpd missing after apt-get" >&2; exit 1; }
command -v gobgp >/dev/null 2>&1 || { echo "gobgp CLI missing after apt-get" >&2; exit 1; }
dpkg-query -W -f='${Package} ${Version}\n' gobgpd 2>/dev/null || true
NAGARE_GOBGPD=$(command -v gobgpd)
NAGARE_GOBGP=$(command -v gobgp)
export NAGARE_GOBGPD NAGARE_GOBGP
unset _gobgp_sudo
