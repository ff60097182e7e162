#!/usr/bin/env bash
# The GPU check (issue #27, item 3): on a machine with an NVIDIA GPU, measure what no machine of
# ours could so far, width 1.0, batch 64:
#   1. native `tripletlab speed --backend wgpu` on the GPU (triplets/s, dispatches a step);
#   2. the page on WebGPU through headless Chromium on that GPU (triplets/s, the first step after
#      navigation), with tests/bench/studio-speed.mjs.
# Prints figures, asserts nothing. On a machine without an NVIDIA GPU it says so and stops (exit 2).
#
# What it needs, it installs from the package registries when they are reachable (Debian's
# chromium, the Vulkan loader and tools, Node.js; rustup and trunk only when no prebuilt files are
# given). A machine that reaches nothing is given prebuilt files instead:
#   TRIPLETLAB_BIN=path/to/tripletlab (release, `cargo build --release -p tripletlab-cli`)
#   TRIPLETLAB_DIST=path/to/dist      (`trunk build --release` + a prepared dataset in public/data)
# Usage: tools/gpu-check.sh   (from the repository; about 8 minutes with prebuilt files)
set -uo pipefail
cd "$(dirname "$0")/.."
say() { printf 'gpu-check: %s\n' "$*"; }

# 1. The GPU.
if ! command -v nvidia-smi >/dev/null 2>&1; then
  say "no NVIDIA GPU here: nvidia-smi is not installed (no NVIDIA driver). Nothing measured."
  exit 2
fi
if ! nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  say "no NVIDIA GPU here: nvidia-smi finds none ($(nvidia-smi -L 2>&1 | head -1)). Nothing measured."
  exit 2
fi
nvidia-smi -L
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

# 2. What the measurements need.
apt_install() {
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@") \
      || say "apt-get could not install $* (no registry reachable?): using what is here"
  fi
}
command -v chromium >/dev/null 2>&1 || apt_install chromium
[ -e /usr/lib/x86_64-linux-gnu/libvulkan.so.1 ] || apt_install libvulkan1
command -v vulkaninfo >/dev/null 2>&1 || apt_install vulkan-tools
command -v node >/dev/null 2>&1 || apt_install nodejs npm
# The driver's Vulkan ICD (nvidia_icd.json) comes with the driver (or the container toolkit with
# NVIDIA_DRIVER_CAPABILITIES including graphics); without it wgpu sees no NVIDIA adapter.
say "Vulkan ICDs: $(ls /usr/share/vulkan/icd.d/ /etc/vulkan/icd.d/ 2>/dev/null | tr '\n' ' ')"
vulkaninfo --summary 2>/dev/null | grep -E 'deviceName|driverName' || say "vulkaninfo lists no device"

# 3. Native wgpu on the GPU.
bin="${TRIPLETLAB_BIN:-}"
if [ -z "$bin" ]; then
  command -v cargo >/dev/null 2>&1 || { curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >/dev/null && . "$HOME/.cargo/env"; }
  cargo build --release -q -p tripletlab-cli --features fusion && bin="${CARGO_TARGET_DIR:-target}/release/tripletlab"
fi
if [ -x "$bin" ]; then
  say "native: $bin speed --backend wgpu --width 1 --batch 64"
  timeout 240 "$bin" speed --backend wgpu --width 1 --batch 64 || say "the native measurement failed (exit $?)"
else
  say "no tripletlab binary (give TRIPLETLAB_BIN): the native measurement is skipped"
fi

# 4. The page on WebGPU, on the GPU's Vulkan adapter (not SwiftShader).
dist="${TRIPLETLAB_DIST:-dist}"
if [ ! -f "$dist/index.html" ]; then
  say "no built page at $dist (give TRIPLETLAB_DIST, or run trunk build --release): the page measurement is skipped"
  exit 0
fi
[ -d tests/node_modules ] || (cd tests && npm ci --silent) || say "npm could not install the test tools"
export TRIPLETLAB_CHROMIUM_ARGS="--use-angle=vulkan --enable-features=Vulkan,VulkanFromANGLE --ignore-gpu-blocklist"
say "page: node tests/bench/studio-speed.mjs --backend webgpu --width 1 --batch 64 (Chromium: $TRIPLETLAB_CHROMIUM_ARGS)"
dist_abs="$(cd "$dist" && pwd)"
out="$(cd tests && timeout 300 node bench/studio-speed.mjs --backend webgpu --width 1 --batch 64 --steps 5 --root "$dist_abs" 2>&1)"
echo "$out"
case "$out" in
  *SwiftShader*) say "the page ran on SwiftShader, not on the GPU: Chromium found no Vulkan adapter (see the ICDs above)";;
esac
