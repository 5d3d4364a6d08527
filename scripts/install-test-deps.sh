#!/usr/bin/env bash
# Installs everything hopseal's tests and benchmarks use: Debian packages for
# real peers and packet captures. Go itself comes with the machine; Go modules
# are fetched by the go command.
set -euo pipefail

# tshark, postgresql, redis-server, openssh-server/-client, dnsmasq-base,
# bind9-dnsutils (dig), mariadb-server/-client and exim4-daemon-light:
# peers, and a second opinion, for the traffic evidence tests (hopseal audit
# capture). tshark's debconf question (may non-root users capture?) takes
# its default under noninteractive.
packages=(openssl tcpdump stunnel4 iproute2 nftables ca-certificates pebble haproxy tshark postgresql redis-server
  openssh-server openssh-client dnsmasq-base bind9-dnsutils nginx libnginx-mod-stream mariadb-server mariadb-client
  exim4-daemon-light)

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-test-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "installing: ${missing[*]}"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# The tests and benchmarks run their own nginx, haproxy, PostgreSQL, Redis,
# OpenSSH, MariaDB and Exim server instances (own configuration, ports and
# pid files).
# Where the package manager may start services (no policy-rc.d refusing
# it), installing them leaves system ones running on the well-known ports:
# stop and disable the ones just installed. (dnsmasq-base has no service.)
for pkg in nginx haproxy postgresql redis-server openssh-server mariadb-server exim4-daemon-light; do
  [[ " ${missing[*]} " == *" $pkg "* ]] || continue
  case $pkg in
    openssh-server) services=(ssh ssh.socket) ;;
    mariadb-server) services=(mariadb) ;;
    exim4-daemon-light) services=(exim4) ;;
    *) services=("$pkg") ;;
  esac
  for svc in "${services[@]}"; do
    if [ -d /run/systemd/system ]; then
      $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$svc" ]; then
      $SUDO "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
      $SUDO update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
  done
done
