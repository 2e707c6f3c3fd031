#!/usr/bin/env bash
# Debian packages the test suite drives for real: pcscd + vpcd (smart card over PC/SC), libpcsclite-dev (to
# build pyscard), Chromium (browser tests), nginx (mTLS). Installs what is missing when we may (root or
# password-less sudo); otherwise says what is missing, and the tests that need it skip with that reason
# (they fail instead when MANDAT_CI=1).
set -euo pipefail
packages=(pcscd libpcsclite-dev vsmartcard-vpcd chromium nginx)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "system-deps: not a Debian machine; install these yourself: ${missing[*]}" >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo"; else
  echo "system-deps: missing ${missing[*]} and no root; the tests that need them will skip" >&2
  exit 0
fi
echo "system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
