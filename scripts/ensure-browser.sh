#!/usr/bin/env bash
# Make sure Debian's chromium-headless-shell is installed for the browser tests of the web console.
# Idempotent: a fast no-op when /usr/bin/chromium-headless-shell exists; refreshes the apt lists only
# when the package is not known yet. Playwright drives this binary (`playwright install` needs the network
# to fetch its own browsers, so it is never used); the headless shell, not the full chromium, because the
# full browser contacts Google hosts even with background networking off.
set -euo pipefail

BROWSER=/usr/bin/chromium-headless-shell
if [ -x "$BROWSER" ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "ensure-browser: $BROWSER is missing and installing it needs root (apt-get install chromium-headless-shell)" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show chromium-headless-shell >/dev/null 2>&1; then
    echo "ensure-browser: apt-get update" >&2
    $SUDO apt-get update -qq
fi
install() { $SUDO apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null; }
echo "ensure-browser: apt-get install chromium-headless-shell (~230 MB, about a minute)" >&2
if ! install; then  # stale package lists name files the mirror no longer has: refresh once and retry
    $SUDO apt-get update -qq
    install
fi
test -x "$BROWSER"
echo "ensure-browser: $($BROWSER --version 2>/dev/null || echo installed)" >&2
