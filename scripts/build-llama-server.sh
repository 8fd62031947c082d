#!/usr/bin/env bash
# Builds llama-server from the llama.cpp source that the npm package node-llama-cpp ships, and caches the
# result outside the repository, keyed by package version and backend. Safe to run twice: a finished build
# is reused, a half-finished one is resumed by cmake.
#
# Usage: scripts/build-llama-server.sh [--backend cpu|cuda|vulkan] [--print-path] [--dry-run]
#   LLAMA_CACHE_DIR   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/privacy-gateway)
#   LLAMA_JOBS        parallel compile jobs (default: nproc)
# Prints the path of the cached llama-server binary on its last line of stdout.
set -euo pipefail

NODE_LLAMA_CPP_VERSION="3.22.1"
backend="cpu"
print_path_only=0
dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend="${2:?--backend needs cpu, cuda or vulkan}"; shift 2 ;;
    --print-path) print_path_only=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "Unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

case "$backend" in
  cpu) backend_flags=() ;;
  cuda) backend_flags=(-DGGML_CUDA=ON) ;;
  vulkan) backend_flags=(-DGGML_VULKAN=ON) ;;
  *) echo "Unknown backend '$backend': expected cpu, cuda or vulkan" >&2; exit 2 ;;
esac

cache_root="${LLAMA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/privacy-gateway}"
key="llama-server-node-llama-cpp-${NODE_LLAMA_CPP_VERSION}-${backend}"
install_dir="$cache_root/$key"
binary="$install_dir/bin/llama-server"

if [ "$print_path_only" = 1 ]; then echo "$binary"; exit 0; fi

# llama-server and its libraries find each other through RUNPATH=$ORIGIN, so the directory can be
# installed anywhere (/usr/lib/privacy-gateway). Older builds carried the build tree's absolute path.
fix_runpath() {
  command -v patchelf >/dev/null || return 0
  local file
  for file in "$install_dir"/bin/llama-server "$install_dir"/bin/*.so*; do
    if [ ! -f "$file" ] || [ -L "$file" ]; then continue; fi
    # shellcheck disable=SC2016 # $ORIGIN is for the dynamic linker, not the shell
    if ! readelf -d "$file" 2>/dev/null | grep -q 'RUNPATH.*\[\$ORIGIN\]'; then
      patchelf --set-rpath '$ORIGIN' "$file"
    fi
  done
}

if [ -x "$binary" ] && [ -f "$install_dir/.complete" ]; then
  fix_runpath
  echo "llama-server: reusing cached build at $binary" >&2
  echo "$binary"
  exit 0
fi

if [ "$dry_run" = 1 ]; then
  echo "would fetch node-llama-cpp@$NODE_LLAMA_CPP_VERSION, clone its llama.cpp bundle, build llama-server ($backend)"
  echo "would install into $install_dir"
  exit 0
fi

for tool in npm git cmake tar; do
  command -v "$tool" >/dev/null || { echo "Cannot build llama-server: '$tool' is not installed" >&2; exit 1; }
done
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi

work="$cache_root/work-$key"
mkdir -p "$work" "$install_dir"
# One builder at a time: a second run waits instead of racing on the same build tree.
exec 9>"$work/.lock"
if command -v flock >/dev/null; then flock 9; fi
if [ -x "$binary" ] && [ -f "$install_dir/.complete" ]; then echo "$binary"; exit 0; fi

if [ ! -f "$work/src/CMakeLists.txt" ]; then
  echo "llama-server: [1/3] fetching node-llama-cpp@$NODE_LLAMA_CPP_VERSION source" >&2
  rm -rf "$work/pack" "$work/src"
  mkdir -p "$work/pack"
  (cd "$work/pack" && npm pack "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" --silent >/dev/null)
  tar -xzf "$work/pack"/node-llama-cpp-*.tgz -C "$work/pack" package/llama/gitRelease.bundle package/llama/binariesGithubRelease.json
  git clone --quiet "$work/pack/package/llama/gitRelease.bundle" "$work/src"
  cp "$work/pack/package/llama/binariesGithubRelease.json" "$install_dir/release.json"
  rm -rf "$work/pack"
fi

echo "llama-server: [2/3] configuring ($backend)" >&2
cmake -S "$work/src" -B "$work/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DGGML_NATIVE=OFF -DCMAKE_BUILD_RPATH_USE_ORIGIN=ON "${backend_flags[@]}" >&2

echo "llama-server: [3/3] compiling (about 10 minutes on 2 cores the first time)" >&2
cmake --build "$work/build" --target llama-server -j "${LLAMA_JOBS:-$(nproc)}" >&2

mkdir -p "$install_dir/bin"
cp -a "$work/build/bin/." "$install_dir/bin/"
fix_runpath
touch "$install_dir/.complete"
echo "llama-server: built $binary" >&2
echo "$binary"
