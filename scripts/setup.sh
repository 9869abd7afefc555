#!/usr/bin/env bash
# Installs what sslserver and its tests need on Debian 12 with Node 20, as root; safe to run twice.
# Debian packages first (only the missing ones), then npm ci (which also builds the native addon
# through binding.gyp), then the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/.."

# openssl: certificates and s_client; swaks: SMTP client, with the Perl modules it only
# recommends for --tls (libnet-ssleay-perl) and ::1 (libio-socket-inet6-perl); ucspi-tcp-ipv6
# and tinycdb: the oracles for tcprules and cdb; testssl.sh: the TLS scan; build-essential: the addon;
# iproute2/procps: namespaces and process checks in tests; stunnel4/socat: bench peers.
PKGS=(openssl swaks libnet-ssleay-perl libio-socket-inet6-perl ucspi-tcp-ipv6 tinycdb testssl.sh build-essential python3 iproute2 procps stunnel4 socat libssl-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages (run as root to install): ${missing[*]}" >&2
    exit 111
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The addon builds offline against the installed headers (/usr/include/node).
export npm_config_nodedir=/usr
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
