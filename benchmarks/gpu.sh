#!/usr/bin/env bash
# Runs benchmarks on a CUDA machine, one section per process, so that a finished section's
# BENCHMARKS file survives a later section's failure or a time limit.
#
#   OUT=bench-gpu SECTIONS="adapter sampling" bash benchmarks/gpu.sh
#
# Environment: OUT (output folder, default bench-gpu), SECTIONS (default: sampling sweep
# theory_tables adapter), SECTION_TIMEOUT (seconds per section, default 240), QUICK=1 (smoke sizes),
# SHARPEN_BENCH_HF_MODELS (extra model folders for the adapter section, see benchmarks/adapter.py).
# The vllm_backend section (not in the default list) needs CUDA vLLM: importable by python3 itself,
# or in an environment of its own, SHARPEN_VLLM_PYTHON=/path/to/bin/python SECTIONS=vllm_backend
# SHARPEN_BENCH_HF_MODELS=/path/to/SmolLM2-1.7B-config bash benchmarks/gpu.sh (see the module).
# The adapter section runs JAX on the CPU (it only makes PRNG keys) and torch on the GPU; the other
# sections run JAX on the GPU, with their numpy baselines on the host CPU.
set -u
OUT=${OUT:-bench-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false TOKENIZERS_PARALLELISM=false
quick=()
[ "${QUICK:-0}" = 1 ] && quick=(--quick)
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
  python3 -c "import sys, jax, numpy, torch, transformers; print(sys.version.split()[0], 'jax', jax.__version__, jax.devices(), 'numpy', numpy.__version__, 'torch', torch.__version__, 'transformers', transformers.__version__)" 2>&1
} | tee "$OUT/machine.txt"
status=0
SECTIONS=${SECTIONS:-sampling sweep theory_tables adapter}
for section in $SECTIONS; do
  platform=()
  { [ "$section" = adapter ] || [ "$section" = vllm_backend ]; } && platform=(env JAX_PLATFORMS=cpu)
  start=$(date +%s)
  "${platform[@]}" timeout "${SECTION_TIMEOUT:-240}" python3 -m benchmarks.run "${quick[@]}" \
    --only "$section" --out "$OUT/$section.md" >"$OUT/section.log" 2>&1
  rc=$?
  cat "$OUT/section.log" >>"$OUT/run.log"
  [ $rc -ne 0 ] && status=$rc
  echo "== $section: exit $rc after $(($(date +%s) - start)) s"
  grep -v '^\[benchmarks\]   ' "$OUT/section.log" | tail -n 5
done
rm -f "$OUT/section.log"
# One file with every section that finished (the first one's preamble: list a JAX-on-GPU one first).
python3 -m benchmarks.combine "$OUT/BENCHMARKS-GPU.md" --machine "$OUT/machine.txt" \
  $(for s in $SECTIONS; do echo "$OUT/$s.md"; done)
exit $status
