#!/usr/bin/env bash
# Installs the Debian packages that patchpilot's tests, lab and benchmarks
# need, when they are missing. Runs apt-get update once, and only when
# something must be installed. As a non-root user it prints the command
# to run instead.
set -euo pipefail

packages=(
  openssh-client openssh-server      # the SSH runner's tests start a real sshd
  debootstrap systemd-container      # the lab: a Debian base and nspawn hosts
  apt-utils dpkg-dev                 # the lab's apt repository (apt-ftparchive, dpkg-deb)
  nftables iproute2                  # lab faults (net-drop)
  prometheus prometheus-node-exporter
  prometheus-alertmanager            # the no_firing_alerts gate's lab test
  ansible python3-apt                # fact-import captures, the inventory benchmark, playbook apply and hooks (lab test)
  ca-certificates curl
  chromium                           # the dashboard's browser tests (headless)
)

find_missing() {
  missing=()
  for p in "${packages[@]}"; do
    if ! dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii'; then
      missing+=("$p")
    fi
  done
}
find_missing
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 0
fi
# Two runs started at once (two checkouts' `make test`) take turns: the
# second waits here, then finds what the first installed. apt's own locks
# are waited for too (Lock::Timeout), should another apt run hold them.
exec 9>/run/lock/patchpilot-deps.lock
flock 9
find_missing
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -o DPkg::Lock::Timeout=600)
"${apt[@]}" update -q
# Services must not start on install: the tests start what they need, on
# loopback addresses of their own.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
"${apt[@]}" install -y -q --no-install-recommends "${missing[@]}"
