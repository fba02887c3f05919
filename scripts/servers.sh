#!/usr/bin/env bash
# Installs the real servers and tools the tests and `sahab local` run on loopback, from Debian's
# packages: redis-server, PostgreSQL 15 (server), prometheus + promtool. Idempotent: it installs only
# what is missing. Needs root (CI runs as root); without it, it says what to install and exits 1.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0

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
