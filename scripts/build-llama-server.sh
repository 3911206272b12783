#!/usr/bin/env bash
# Builds a CPU llama-server from the llama.cpp source that node-llama-cpp ships as a git bundle,
# and caches it outside the repo, keyed by the node-llama-cpp version and the bundled llama.cpp tag.
# Prints the binary's path on stdout; everything else goes to stderr.
set -euo pipefail

NLC_VERSION="${LLAMA_SIDECAR_NLC_VERSION:-3.22.1}"
CACHE_ROOT="${LLAMA_SIDECAR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llama-sidecar}"
KEY_DIR="$CACHE_ROOT/llama-server/nlc-$NLC_VERSION"
BIN="$KEY_DIR/bin/llama-server"

log() { printf '[build-llama-server] %s\n' "$*" >&2; }

if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
  echo "$BIN"
  exit 0
fi

for tool in cmake git g++ make npm tar; do
  command -v "$tool" >/dev/null 2>&1 || {
    log "missing '$tool': install it (apt-get install -y cmake git g++ make) and run again"
    exit 1
  }
done

WORK="$CACHE_ROOT/llama-server/work-nlc-$NLC_VERSION"
rm -rf "$WORK"
mkdir -p "$WORK"
log "fetching node-llama-cpp@$NLC_VERSION (for its bundled llama.cpp source)"
(cd "$WORK" && npm pack --silent "node-llama-cpp@$NLC_VERSION" >/dev/null)
tar -xzf "$WORK/node-llama-cpp-$NLC_VERSION.tgz" -C "$WORK" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json
TAG=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).tag)' "$WORK/package/llama/llama.cpp.info.json")
log "llama.cpp tag $TAG: cloning the bundle"
git clone --quiet "$WORK/package/llama/gitRelease.bundle" "$WORK/src" 2>/dev/null

JOBS="${LLAMA_SIDECAR_BUILD_JOBS:-$(nproc)}"
log "configuring (CPU only, no web UI download, no OpenSSL)"
cmake -S "$WORK/src" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DGGML_NATIVE=ON >&2
log "building llama-server with $JOBS jobs (takes a while the first time)"
cmake --build "$WORK/build" --target llama-server -j "$JOBS" >&2

mkdir -p "$KEY_DIR/bin"
cp "$WORK/build/bin/llama-server" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
printf '{"nodeLlamaCpp":"%s","llamaCppTag":"%s"}\n' "$NLC_VERSION" "$TAG" >"$KEY_DIR/source.json"
rm -rf "$WORK"
log "cached at $BIN"
echo "$BIN"
