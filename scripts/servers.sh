#!/usr/bin/env bash
# Installs the real servers and tools the tests and `sahab local` run on loopback, from Debian's
# packages: redis-server, PostgreSQL 15 (server), prometheus + promtool, npm, chromium (the evidence
# pack's PDF and the dashboard's headless-browser test); and Azurite from npm. Idempotent: it installs only
# what is missing. Needs root (CI runs as root); without it, it says what to install and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

# Azurite (Microsoft's Azure Storage emulator) comes from npm into .node/ (ignored by git; no root).
# Pin: workloads/local/servers.py AZURITE_VERSION.
azurite_version=$(sed -n 's/^AZURITE_VERSION = "\([0-9.]*\)".*/\1/p' workloads/local/servers.py)
install_azurite() {
  [ -x .node/node_modules/.bin/azurite-blob ] && \
    grep -q "\"version\": \"${azurite_version}\"" .node/node_modules/azurite/package.json 2>/dev/null && return 0
  echo "servers: installing azurite@${azurite_version} into .node/ (npm)" >&2
  npm install --prefix .node --no-audit --no-fund --loglevel=error "azurite@${azurite_version}" >/dev/null
}

need=()
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then install_azurite; exit 0; fi

if [ "$(id -u)" -ne 0 ]; then
  echo "servers: missing ${need[*]}; install them (sudo apt-get install -y ${need[*]}) or run as root" >&2
  exit 1
fi
echo "servers: installing ${need[*]} (Debian packages)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# The packages' own services are not started: the tests and `sahab local` start their own instances
# on free loopback ports, with data under the project's folders.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
install_azurite
