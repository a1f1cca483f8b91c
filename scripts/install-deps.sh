#!/usr/bin/env bash
# Installs every Debian package msnkit needs to build, test, fuzz and
# benchmark. Idempotent: does nothing when everything is present.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  ninja-build      # the build tests with the Ninja generator
  libevent-dev libsqlite3-dev libpcap-dev libssl-dev libjansson-dev
  libedit-dev libinih-dev libcmocka-dev
  clang            # libFuzzer for `make fuzz`
  clang-format     # the style check (tests/CMakeLists.txt, .clang-format)
  sqlite3          # integrity checks in the durability tests
  tcpdump          # reading captures back in the analyzer tests
  nftables         # loading msnsniff --nft output into a namespace in the tests
  postgresql libpq-dev  # msnd's PostgreSQL store and the throw-away servers of its tests
  iproute2 procps python3
  strace           # widening a start-up window in the msnd tests (msnd_cli)
  python3-jsonschema   # msnsniff's events checked against docs/msnsniff-events.schema.json
  tshark               # Community IDs cross-checked; the analyzer benchmark's peer
  debhelper dpkg-dev fakeroot lintian adduser   # Debian packages (debian/) and their test
  man-db groff-base                             # checking the man pages
  libnftnl-dev libmnl-dev libnftables-dev libnetfilter-queue-dev   # msngate
  iptables         # msngate's NFQUEUE fallback (iptables-nft) and its tests
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
