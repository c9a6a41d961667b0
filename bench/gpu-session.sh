#!/bin/sh
# Everything issue 5 asks to measure on a GPU, in one command for a lent machine (the device
# tool: about 15 minutes in all, no network, no Node.js there). Build the kit here first:
#   npm run build && node bench/gpu-kit.mjs          # writes .gpu-kit/seqc-gpu-kit.tar.xz
# then on the device, carrying .gpu-kit:
#   sh bench/gpu-session.sh                           # results in $OUT
# It unpacks the kit (node, the built seqc, the peers' files, the Vulkan loader), checks that
# Dawn found the GPU rather than a CPU fallback, then, each step under its own time limit:
# seqc run (f32 and halves) against float64 with the per-kernel profile; PyTorch's nn.LSTM
# (cuDNN) and seqc's LSTM at B=64, T=100, I=512, H=512; the whole bench with every peer;
# seqc alone with --tune on the LSTM and GRU cases.
# Files in $OUT: session.log, torch-lstm.json, seqc-lstm-fwd-bwd.json, the two bench JSONs.
# The limits add up to 570 s, under the device's 600 s a command; the bench saves after
# every case, so one cut short keeps what it measured.
# QUICK=1 runs small sizes and the bench's --quick (to try the kit on a machine without a GPU).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
kit_archive=${KIT:-$here/.gpu-kit/seqc-gpu-kit.tar.xz}
out=${OUT:-/tmp/seqc-gpu-out}
mkdir -p "$out"
log="$out/session.log"
say() { echo "== $*" | tee -a "$log"; }
# a step's output goes to the log; a step that fails or runs out of time does not stop the others
step() {
  limit=$1; shift
  say "$* (limit ${limit}s)"
  start=$(date +%s)
  timeout "$limit" "$@" >>"$log" 2>&1
  say "exit $? after $(( $(date +%s) - start ))s"
}

[ -f "$kit_archive" ] || { echo "no kit at $kit_archive: run node bench/gpu-kit.mjs first and carry .gpu-kit" | tee -a "$log"; exit 2; }
kit=$(mktemp -d)/kit
# python3's tarfile reads xz without the xz program, which a minimal image may lack
if command -v python3 >/dev/null; then
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$kit_archive" "$(dirname "$kit")" || exit 2
else
  tar -xJf "$kit_archive" -C "$(dirname "$kit")" || exit 2
fi
export PATH="$kit/node/bin:$PATH"
export LD_LIBRARY_PATH="$kit/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# where the image keeps NVIDIA's Vulkan and EGL driver files out of the loaders' default paths
nvidia=/usr/local/nvidia/share
[ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$nvidia/vulkan/icd.d/nvidia_icd.json" ] && export VK_DRIVER_FILES="$nvidia/vulkan/icd.d/nvidia_icd.json"
[ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && [ -f "$nvidia/glvnd/egl_vendor.d/10_nvidia.json" ] && export __EGL_VENDOR_LIBRARY_FILENAMES="$nvidia/glvnd/egl_vendor.d/10_nvidia.json"
cd "$kit" || exit 2

say "$(date -u) node $(node --version) in $kit; VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >>"$log" 2>&1

if [ "${QUICK:-0}" = 1 ]; then
  shape="--batch 4 --steps 8 --input 16 --hidden 16 --repeats 3"
  run_sizes="--size I=16 --size H=32 --steps 8 --batch 4"
  bench_args="--quick --case lstm-tiny,mingru-tiny"
  tuned_args="--quick --case lstm-tiny,gru-tiny"
else
  shape=""
  run_sizes=""
  bench_args=""
  tuned_args="--case lstm-big,gru-big,lstm-small,gru-small"
fi

# the adapter first: every number below is meaningless on a CPU fallback, so say so at the top
step 45 node bin/seqc.js run examples/lstm.seq $run_sizes --profile
grep -q '^device: .*default backend' "$log" || say "WARNING: Dawn did not find the GPU through its default backend (see device: above); the figures below are not the GPU's"
step 45 node bin/seqc.js run examples/lstm.seq $run_sizes --param-precision f16 --profile
step 75 python3 bench/torch_lstm.py $shape --out "$out/torch-lstm.json"
step 75 node bench/lstm-fwd-bwd.mjs $shape --out "$out/seqc-lstm-fwd-bwd.json"
step 270 node bench/run.mjs --out "$out" --peers seqc,seqc-sequential,seqc-stepped,seqc-f16,tfjs-webgpu,ort-webgpu,ort-wasm $bench_args
# the estimate's constants were fitted on llvmpipe: what tuning measures on this device instead
step 60 node bench/run.mjs --out "$out" --tune --peers seqc --no-matmul --no-compile $tuned_args
say "done $(date -u)"
