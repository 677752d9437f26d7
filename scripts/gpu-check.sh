#!/usr/bin/env bash
# Runs the engine benchmark on the CUDA execution provider, where this install has it (docs/models.md, "GPU").
# Not used by any test. Usage: scripts/gpu-check.sh [extra bench args, e.g. --tiny]
#   SDAPI_GPU_DEVICE=cuda:1 scripts/gpu-check.sh     another GPU (default cuda:0)
set -euo pipefail
cd "$(dirname "$0")/.."
device="${SDAPI_GPU_DEVICE:-cuda:0}"

node --import tsx -e '
  const { describeRuntime } = await import("./src/engine/index.ts");
  const runtime = describeRuntime();
  const list = runtime.providers.map((p) => `${p.name}${p.installed ? "" : " (not installed)"}`).join(", ");
  console.log(`onnxruntime-node ${runtime.onnxruntimeNode}; execution providers: ${list}`);
  if (!runtime.providers.some((p) => p.name === "cuda" && p.installed)) {
    console.error("gpu-check: the CUDA execution provider is not installed; see docs/models.md (GPU: installing the CUDA execution provider)");
    process.exit(2);
  }
'
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

# With a CUDA --device the bench loads with strictDevice, so it fails instead of measuring the CPU fallback.
exec node --import tsx bench/engine.ts --device "$device" "$@"
