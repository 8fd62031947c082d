#!/usr/bin/env bash
# `deno task test`: installs what the integration tests need (llama-server build, redis-server, openssl),
# then runs the whole suite. Safe to run repeatedly: every step reuses what is already there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v cmake >/dev/null || need_apt+=(cmake)
command -v ninja >/dev/null || need_apt+=(ninja-build)
command -v setpriv >/dev/null || need_apt+=(util-linux)
command -v patchelf >/dev/null || need_apt+=(patchelf)
command -v shellcheck >/dev/null || need_apt+=(shellcheck)
[ -f /lib/systemd/system/wg-quick@.service ] || need_apt+=(wireguard-tools)
command -v caddy >/dev/null || need_apt+=(caddy)
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v nft >/dev/null || need_apt+=(nftables)
# The app SDK's browser test (tests/sdk_browser_test.ts) runs Debian's Chromium headless.
command -v chromium >/dev/null || need_apt+=(chromium)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "test: installing ${need_apt[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "test: please install ${need_apt[*]} (not root, cannot apt-get)" >&2
    exit 1
  fi
fi

# The app SDK package and the Expo example: their locked npm dev dependencies (esbuild, noble, Hermes,
# TypeScript, Expo's types), installed once (tests/helpers/sdk_package.ts npmCi() does the same).
# The example takes `npm install` (keeps its lock's versions): Expo's optional per-platform packages are not on
# this registry, so its lock cannot list them and `npm ci` refuses it as out of sync.
for dir in packages/client examples/expo-chat; do
  how=ci
  [ "$dir" = examples/expo-chat ] && how=install
  [ -f "$root/$dir/node_modules/.package-lock.json" ] ||
    (cd "$root/$dir" && npm "$how" --ignore-scripts --no-audit --no-fund --loglevel=error)
done

PG_TEST_LLAMA_SERVER_BIN="$(bash "$root/scripts/build-llama-server.sh" | tail -n 1)"
export PG_TEST_LLAMA_SERVER_BIN
cd "$root"
# -A only here, for test helpers (they spawn the gateway with the product's own narrow flags).
exec deno test --allow-all --no-prompt "$@" tests/ src/
