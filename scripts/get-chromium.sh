#!/usr/bin/env bash
# The end-to-end test drives Debian's chromium (a browser download does not work
# offline): install it when it is missing and apt-get is usable as root.
set -euo pipefail
chromium=${COURSE_CHROMIUM:-/usr/bin/chromium}
if [[ -x "$chromium" ]]; then
    exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "Installing Debian's chromium for the end-to-end test…"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
    echo "Chromium is missing at $chromium: install Debian's chromium package" \
        "(sudo apt-get install chromium) or set COURSE_CHROMIUM." >&2
    exit 1
fi
