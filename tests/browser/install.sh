#!/usr/bin/env bash
# Installs what the real-browser test needs: Debian's chromium, a CJK font for
# the lecture's Korean notes, and Playwright's playwright-core (pinned, from npm,
# into tests/browser/node_modules).  Nothing is downloaded when the test runs.
# Idempotent: a second run checks and returns in well under a second.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PW_VERSION="1.65.1"

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
dpkg -s fonts-nanum >/dev/null 2>&1 || need_apt+=(fonts-nanum)
if [ "${#need_apt[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=""; fi
    echo "installing Debian packages: ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${need_apt[@]}" >/dev/null
fi

pkg="$here/node_modules/playwright-core/package.json"
installed() { [ -f "$pkg" ] && grep -q "\"version\": \"$PW_VERSION\"" "$pkg"; }
if ! installed; then
    # one installer at a time (the test workers may all ask at once); --prefix: into
    # this folder even when a parent folder has a node_modules of its own
    exec 9>"$here/.install.lock"
    flock 9
    if ! installed; then
        echo "installing playwright-core@$PW_VERSION"
        # the browser is Debian's chromium: playwright-core downloads no browser
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$here" --no-save --no-audit \
            --no-fund --loglevel=error "playwright-core@$PW_VERSION" >/dev/null
    fi
    installed || { echo "playwright-core@$PW_VERSION is not in $here/node_modules" >&2; exit 1; }
fi
