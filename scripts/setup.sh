#!/usr/bin/env bash
# Installs what airlock needs on a Debian 12 machine (run as root): Debian packages for the validators,
# the lab and its clients, then the npm dependencies. Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "airlock needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 2
fi

PACKAGES=(
  # validators used by the tests
  chrony bind9 bind9-utils bind9-dnsutils nftables iptables util-linux containerd
  # the mirrors' real clients and tools (apt/dnf/pip/go/skopeo) used by the tests
  gnupg xz-utils zstd rpm createrepo-c dnf python3-pip golang-go skopeo
  # the reference registry: an upstream for the bundle tests (and a peer in bench/serve.ts)
  docker-registry
  # the lab: base image, booting hosts, reaching them
  debootstrap systemd-container iproute2 openssh-client openssh-server curl iputils-ping
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} — run this script as root" >&2
    exit 2
  fi
  echo "installing: ${missing[*]}"
  # Never let package scripts start daemons on this machine (a host chronyd would step its clock).
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && created_policy=1
  fi
  trap '[ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
