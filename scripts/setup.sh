#!/usr/bin/env bash
# Installs what Sextant needs from Debian's packages, only what is missing. Idempotent: a second
# run does nothing. Run as root (or with sudo available) on Debian bookworm.
#   scripts/setup.sh            build and test dependencies
#   scripts/setup.sh --peers    also the peers the benchmarks compare against (hnswlib, FAISS,
#                               PyTorch, and ONNX Runtime from npm into $PEERS_DIR, default
#                               build/peers)
set -euo pipefail
peers=0
[[ "${1:-}" == "--peers" ]] && peers=1

packages=(
  build-essential cmake pkg-config   # compiler and build
  ninja-build                        # builds a target's files while the libraries it links still build
  libopenblas-dev                    # sgemm for batched exact search
  nlohmann-json3-dev                 # JSON (points, filters, CLI lines)
  libroaring-dev                     # roaring bitmaps for payload indexes
  libicu-dev libstemmer-dev          # text analysis: Unicode segmentation, Snowball stemming
  libgtest-dev libgmock-dev          # tests
  libbenchmark-dev                   # micro benchmarks
  clang libclang-rt-14-dev           # libFuzzer targets
  lld                                # links the sanitizer builds' test programs quickly
  libcpp-httplib-dev libssl-dev      # the HTTP server (sextant serve): HTTP/1.1, TLS via OpenSSL
  curl openssl                       # server tests: the README's curl examples, a TLS certificate
  pybind11-dev python3-dev           # the Python package's extension (sextant._core)
  python3-numpy python3-setuptools   # the Python package: arrays; pip install ./python
  python3-pytest python3-hypothesis  # its tests (make python-test)
  nats-server libnats-dev            # the cluster (sextant serve --cluster): JetStream, its C client
  chromium                           # the web console's browser tests (Playwright drives Chromium)
)
# Node.js and npm for Playwright, unless the machine already has them (e.g. from NodeSource).
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
if [[ $peers == 1 ]]; then
  packages+=(libhnswlib-dev libfaiss-dev python3-faiss python3-hnswlib python3-numpy python3-xapian)
  # The BERT runtime's peers (bench/bert_vs_ort.sh): PyTorch exports the model to ONNX and is
  # measured itself; ONNX Runtime comes from npm (below), so node and npm are needed unless
  # the machine already has them (e.g. from another Node.js distribution).
  packages+=(python3-torch)
fi

# ONNX Runtime for Node.js, with its CPU binaries (shipped inside the npm package; the install
# script, skipped, only fetches optional GPU libraries). Needs the npm registry, once.
install_ort() {
  local dir=${PEERS_DIR:-build/peers}
  [[ -d $dir/node_modules/onnxruntime-node ]] && return 0
  echo "setup: npm install onnxruntime-node@1.20.1 into $dir" >&2
  mkdir -p "$dir"
  npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund onnxruntime-node@1.20.1 >&2
}

# Playwright's library (no browser download: the tests drive Debian's chromium) for the web
# console's browser tests, into build/node_modules. Needs the npm registry, once.
install_playwright() {
  local dir=${BUILD_DIR:-build}/console-test
  [[ -d $dir/node_modules/playwright-core ]] && return 0
  echo "setup: npm install playwright-core@1.65.1 into $dir" >&2
  mkdir -p "$dir"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$dir" --ignore-scripts --no-audit \
    --no-fund playwright-core@1.65.1 >&2
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  install_playwright
  if [[ $peers == 1 ]]; then install_ort; fi
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "setup: missing packages (${missing[*]}) and not root; install them or re-run as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_playwright
if [[ $peers == 1 ]]; then install_ort; fi
