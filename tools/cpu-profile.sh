#!/usr/bin/env bash
# Where a CPU training step's time goes (issue #27): `perf record` of `tripletlab speed` on burn's
# flex backend (release build), the samples summed by what they belong to (our depthwise and ReLU6
# loops, gemm, layout copies, masks, memory fills and moves, the rest) and the top symbols listed.
# The samples cover the whole command: the steps, then `speed`'s inference pass and its timing of
# the 17 depthwise layers alone (which it prints as its own share of a step); the warm-up step and
# the data's preparation are in it too.
# Prints figures, asserts nothing. Installs `perf` (Debian's linux-perf) when it is missing.
#
# Usage: tools/cpu-profile.sh [--cpu-ops ours|burn] [--steps N]   (from the repository; a few
# minutes after the release build, which it makes when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'cpu-profile: %s\n' "$*"; }

cpu_ops=ours
steps=5
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu-ops) cpu_ops="${2:?--cpu-ops needs ours or burn}"; shift 2 ;;
    --steps) steps="${2:?--steps needs a number}"; shift 2 ;;
    *) say "unknown argument $1 (usage: tools/cpu-profile.sh [--cpu-ops ours|burn] [--steps N])"; exit 2 ;;
  esac
done

if ! command -v perf >/dev/null 2>&1 || ! perf --version >/dev/null 2>&1; then
  say "installing perf (Debian's linux-perf)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends linux-perf
fi
# A container may forbid sampling; say so rather than print an empty profile.
if [ "$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo 2)" -gt 1 ] && [ "$(id -u)" != 0 ]; then
  say "perf_event_paranoid > 1 and not root: perf cannot sample this process. Nothing measured."
  exit 2
fi

target="${CARGO_TARGET_DIR:-$HOME/.cache/tripletlab/target}"
CARGO_TARGET_DIR="$target" cargo build --quiet --release -p tripletlab-cli
bin="$target/release/tripletlab"

say "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs; \
vector extensions: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|fma)$' | tr '\n' ' ')"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# -F 499: a sample every 2 ms per CPU, enough for shares to a percent in a minute of samples.
perf record -q -F 499 -o "$work/perf.data" -- \
  "$bin" speed --backend flex --width 1 --batch 64 --steps "$steps" --cpu-ops "$cpu_ops" --json "$work/speed.json" \
  | sed 's/^/  /'

perf report -i "$work/perf.data" --stdio --no-children --sort sym --percent-limit 0 -q 2>/dev/null \
  | awk '
    /%/ {
      share = $1; sub("%", "", share); share += 0
      sym = $0; sub(/^[^]]*\] /, "", sym)
      # Without call graphs a closure run through a reference (`<&F as Fn>::call`: rayon`s chunks
      # of our loops in crates/kernels, and burn flex`s own parallel loops) has no name of its own;
      # `speed` times the depthwise layers alone to give their share.
      if (sym ~ /for &F>::call/) group = "closures run by rayon (our depthwise loops among them; see the timing above)"
      else if (sym ~ /tripletlab_kernels::depthwise/) group = "our depthwise loops (crates/kernels)"
      else if (sym ~ /tripletlab_kernels::relu6/) group = "our ReLU6 (crates/kernels)"
      else if (sym ~ /gemm|microkernel/) group = "gemm (matrix products: pointwise convolutions, stem)"
      else if (sym ~ /copy_2d|permute|contiguous|transpose/) group = "layout copies (NCHW/NHWC, contiguous)"
      else if (sym ~ /mask/) group = "masks (mask_fill, mask_where)"
      else if (sym ~ /memset|memmove|memcpy/) group = "memset / memmove / memcpy"
      else if (sym ~ /conv|im2col|col2im/) group = "burn convolution bookkeeping (im2col and the like)"
      else if (sym ~ /reduce|sum|mean|var/) group = "reductions (BatchNorm statistics, sums)"
      else if (sym ~ /binary|unary|scalar|map|zip|elementwise/) group = "element-wise arithmetic"
      else group = "other"
      groups[group] += share
      if (listed < 25) { top[++listed] = sprintf("  %6.2f%%  %s", share, substr(sym, 1, 110)) }
    }
    END {
      print "cpu-profile: share of all samples (the steps, inference and the isolated depthwise timing), by kind:"
      n = 0
      for (g in groups) { names[++n] = g }
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (groups[names[j]] > groups[names[i]]) { t = names[i]; names[i] = names[j]; names[j] = t }
      for (i = 1; i <= n; i++) printf "  %6.2f%%  %s\n", groups[names[i]], names[i]
      print "cpu-profile: the top symbols:"
      for (i = 1; i <= listed; i++) print top[i]
    }'
