#!/usr/bin/env bash
# Builds llama-server from the llama.cpp source that the npm package node-llama-cpp ships, and caches the
# result outside the repository, keyed by package version and backend. Safe to run twice: a finished build
# is reused, a half-finished one is resumed by cmake.
#
# Usage: scripts/build-llama-server.sh [--backend cpu|cuda|vulkan] [--cuda-arch LIST] [--tarball FILE]
#                                      [--print-path] [--dry-run]
#   --cuda-arch   CUDA architectures to build for (required with --backend cuda): 86 (RTX 30xx, A10),
#                 89 (RTX 40xx, L4), 90 (H100), or a list such as "86;89"
#   --tarball     a node-llama-cpp-VERSION.tgz already at hand (an offline mirror) instead of npm pack;
#                 it must match the pinned integrity just the same
#   LLAMA_CACHE_DIR   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/privacy-gateway)
#   LLAMA_JOBS        parallel compile jobs (default: nproc)
# Prints the path of the cached llama-server binary on its last line of stdout.
set -euo pipefail

NODE_LLAMA_CPP_VERSION="3.22.1"
# The registry's published hash of that tarball (npm view node-llama-cpp@3.22.1 dist.integrity). The
# source we compile and then run next to decrypted conversations must be exactly what was reviewed.
NODE_LLAMA_CPP_INTEGRITY="sha512-bltIipuWmc123H7tMIgDGKSsSrhmhlQYeVUC48XTjVW7XGJJiJJyCdlTMzQ/LiWoPkGDpcL4FviDpgw7qfTiDw=="
backend="cpu"
cuda_arch=""
tarball=""
print_path_only=0
dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend="${2:?--backend needs cpu, cuda or vulkan}"; shift 2 ;;
    --cuda-arch) cuda_arch="${2:?--cuda-arch needs architectures, e.g. 86 or \"86;89\"}"; shift 2 ;;
    --tarball) tarball="${2:?--tarball needs a file}"; shift 2 ;;
    --print-path) print_path_only=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "Unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

variant="$backend"
case "$backend" in
  cpu) backend_flags=() ;;
  cuda)
    if [ -z "$cuda_arch" ]; then
      echo "Cannot build llama-server for CUDA: pass --cuda-arch (86, 89, 90, or a list like \"86;89\")" >&2
      exit 2
    fi
    if ! [[ "$cuda_arch" =~ ^[0-9]{2,3}(-real|-virtual)?(\;[0-9]{2,3}(-real|-virtual)?)*$ ]]; then
      echo "Cannot build llama-server for CUDA: '$cuda_arch' is not a list of architectures like \"86;89\"" >&2
      exit 2
    fi
    backend_flags=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$cuda_arch")
    variant="cuda-${cuda_arch//;/-}"
    ;;
  vulkan) backend_flags=(-DGGML_VULKAN=ON) ;;
  *) echo "Unknown backend '$backend': expected cpu, cuda or vulkan" >&2; exit 2 ;;
esac

cache_root="${LLAMA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/privacy-gateway}"
key="llama-server-node-llama-cpp-${NODE_LLAMA_CPP_VERSION}-${variant}"
install_dir="$cache_root/$key"
binary="$install_dir/bin/llama-server"

if [ "$print_path_only" = 1 ]; then echo "$binary"; exit 0; fi

# llama-server and its libraries find each other through RUNPATH=$ORIGIN, so the directory can be
# installed anywhere (/usr/lib/privacy-gateway). CMake writes "$ORIGIN:" (an empty entry, which the
# dynamic linker reads as the current directory: a library planted there would be loaded); older builds
# carried the build tree's absolute path. Both are rewritten, and the result is checked.
fix_runpath() {
  local file runpath bad=0
  for file in "$install_dir"/bin/llama-server "$install_dir"/bin/*.so*; do
    if [ ! -f "$file" ] || [ -L "$file" ]; then continue; fi
    runpath="$(readelf -d "$file" 2>/dev/null | sed -n 's/.*(RUNPATH).*\[\(.*\)\]$/\1/p')"
    # shellcheck disable=SC2016 # $ORIGIN is for the dynamic linker, not the shell
    [ "$runpath" = '$ORIGIN' ] && continue
    if ! command -v patchelf >/dev/null; then
      echo "llama-server: $(basename "$file") has RUNPATH '$runpath'; install patchelf to set it to \$ORIGIN" >&2
      bad=1
      continue
    fi
    # shellcheck disable=SC2016
    patchelf --set-rpath '$ORIGIN' "$file"
  done
  return "$bad"
}

if [ -x "$binary" ] && [ -f "$install_dir/.complete" ]; then
  fix_runpath || exit 1
  echo "llama-server: reusing cached build at $binary" >&2
  echo "$binary"
  exit 0
fi

# Everything a build needs, checked before ten minutes of compiling rather than after.
missing=()
for tool in npm git cmake tar openssl readelf patchelf; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ "$backend" = cuda ] && [ -z "${CUDACXX:-}" ] && ! command -v nvcc >/dev/null; then
  missing+=("nvcc (the CUDA toolkit; or set CUDACXX)")
fi
if [ "$backend" = vulkan ] && ! command -v glslc >/dev/null; then missing+=("glslc (Vulkan shaders)"); fi
if [ "${#missing[@]}" -gt 0 ]; then
  list="$(printf '%s, ' "${missing[@]}")"
  echo "Cannot build llama-server: not installed: ${list%, }" >&2
  exit 1
fi

if [ "$dry_run" = 1 ]; then
  echo "would fetch node-llama-cpp@$NODE_LLAMA_CPP_VERSION (${tarball:-npm pack}), check $NODE_LLAMA_CPP_INTEGRITY, clone its llama.cpp bundle, build llama-server ($variant)"
  echo "would install into $install_dir"
  exit 0
fi

# verify_integrity FILE: the tarball's SHA-512, in npm's "sha512-BASE64" form, must be the pinned one.
verify_integrity() {
  local actual
  actual="sha512-$(openssl dgst -sha512 -binary "$1" | base64 -w 0)"
  if [ "$actual" != "$NODE_LLAMA_CPP_INTEGRITY" ]; then
    echo "Cannot build llama-server: $(basename "$1") fails the integrity check (expected $NODE_LLAMA_CPP_INTEGRITY, got $actual)" >&2
    return 1
  fi
}
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
  if [ -n "$tarball" ]; then
    cp "$tarball" "$work/pack/node-llama-cpp-$NODE_LLAMA_CPP_VERSION.tgz"
  else
    (cd "$work/pack" && npm pack "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" --silent >/dev/null)
  fi
  if ! verify_integrity "$work/pack/node-llama-cpp-$NODE_LLAMA_CPP_VERSION.tgz"; then
    rm -rf "$work/pack"
    exit 1
  fi
  tar -xzf "$work/pack/node-llama-cpp-$NODE_LLAMA_CPP_VERSION.tgz" -C "$work/pack" package/llama/gitRelease.bundle package/llama/binariesGithubRelease.json
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
fix_runpath || exit 1
touch "$install_dir/.complete"
echo "llama-server: built $binary" >&2
echo "$binary"
