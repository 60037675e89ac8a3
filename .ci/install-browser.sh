#!/usr/bin/env bash
# Installs what the console's browser test needs: Debian's chromium (the browser itself, never a
# downloaded build) and playwright-core from the lock file in tests/browser/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
    else
        sudo apt-get update
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
    fi
fi
# The Debian wrapper script prints a harmless shell warning on stderr.
/usr/bin/chromium --version 2>/dev/null

# playwright-core ships no browser and downloads none: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD is a
# belt-and-braces guard in case a future version grows an install hook.
cd tests/browser
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefer-offline --no-audit --no-fund
