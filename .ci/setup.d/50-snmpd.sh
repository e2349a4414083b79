# Debian's net-snmp agent (snmpd) and tools (snmpwalk, snmpget) for the SNMP
# interface-name tests (test/enrich-snmp*.test.ts): the tests start snmpd
# unprivileged on a free loopback UDP port with a generated config (v2c
# community + a v3 authPriv SHA/AES user) and compare what our poller reads
# with what snmpwalk reads from the same agent. Debian 12 ships net-snmp 5.9.3.
# The agent is never started as a system service (the test starts its own).
_snmp_sudo=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then _snmp_sudo="sudo -n"; fi
_snmp_have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if _snmp_have snmpd && _snmp_have snmpwalk; then
  echo "snmpd and snmpwalk present, skipping apt-get"
else
  export DEBIAN_FRONTEND=noninteractive
  $_snmp_sudo apt-get update -q
  # policy-rc.d keeps the package's postinst from starting the system agent on port 161.
  _snmp_policy=/usr/sbin/policy-rc.d
  if [ ! -e "$_snmp_policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $_snmp_sudo tee "$_snmp_policy" >/dev/null
    $_snmp_sudo chmod +x "$_snmp_policy"
    _snmp_policy_added=1
  fi
  $_snmp_sudo apt-get install -y -q --no-install-recommends snmpd snmp </dev/null
  if [ "${_snmp_policy_added:-}" = 1 ]; then $_snmp_sudo rm -f "$_snmp_policy"; fi
  unset _snmp_policy _snmp_policy_added
fi
NAGARE_SNMPD=$(command -v snmpd || echo /usr/sbin/snmpd)
NAGARE_SNMPWALK=$(command -v snmpwalk)
[ -x "$NAGARE_SNMPD" ] || { echo "snmpd missing after apt-get" >&2; exit 1; }
[ -x "$NAGARE_SNMPWALK" ] || { echo "snmpwalk missing after apt-get" >&2; exit 1; }
dpkg-query -W -f='${Package} ${Version}\n' snmpd snmp 2>/dev/null || true
export NAGARE_SNMPD NAGARE_SNMPWALK
unset _snmp_sudo
unset -f _snmp_have
