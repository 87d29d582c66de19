"""Ollama: llama.cpp's llama-server underneath, with Ollama's own defaults on top.

At the commit read in ../shared/ENGINES.md Ollama starts `llama-server` with
`-c <num_ctx × num_parallel> -np <num_parallel> -b/-ub <num_batch>`, the cache type from
OLLAMA_KV_CACHE_TYPE and `-ngl` only when `num_gpu` is set (otherwise llama-server's --fit
picks the layers).  So memory follows llama.cpp's rules with these inputs.
"""

from __future__ import annotations

from typing import Optional

from sizer.engines.base import GIB, device_capacity
from sizer.engines.llamacpp import LlamaCpp
from sizer.types import Machine, ModelEntry

# server/routes.go: default num_ctx by total VRAM (after OLLAMA_GPU_OVERHEAD), v0.15.5 and later
# (runtime_logs constants const-ollama-default-ctx; ENGINES.md "Ollama" table).
CONTEXT_BY_VRAM = ((47 * GIB, 262144), (23 * GIB, 32768), (0, 4096))
DEFAULT_NUM_PARALLEL = 1  # envconfig/config.go OLLAMA_NUM_PARALLEL default since v0.9.7
DEFAULT_NUM_BATCH = 512  # api/types.go DefaultOptions num_batch
KV_TYPES = ("f16", "q8_0", "q4_0")  # OLLAMA_KV_CACHE_TYPE values (docs/faq.mdx)


class Ollama(LlamaCpp, name="ollama"):
    """Ollama's server and its model library."""

    label = "Ollama"
    kv_cache_types = KV_TYPES
    aliases = ()

    def default_ctx(self, model: ModelEntry, machine: Optional[Machine]) -> int:
        vram = 0
        if machine:
            vram = sum(device_capacity(a) or 0 for host in machine.hosts[:1] for a in host.accelerators if not a.unified_memory)
            vram += sum(
                a.memory_total_bytes or 0 for host in machine.hosts[:1] for a in host.accelerators if a.unified_memory
            )
        default = next(ctx for threshold, ctx in CONTEXT_BY_VRAM if vram >= threshold)
        # llm/server.go caps num_ctx at the model's training context.
        return min(default, model.max_context)

    def default_parallel(self) -> int:
        return DEFAULT_NUM_PARALLEL

    def default_batches(self) -> tuple[int, int]:
        return DEFAULT_NUM_BATCH, DEFAULT_NUM_BATCH

    def resolve(self, model, request, machine):
        if request.kv_type and request.kv_type.lower() not in KV_TYPES:
            from sizer.errors import InvalidInputError

            raise InvalidInputError(f"OLLAMA_KV_CACHE_TYPE takes {', '.join(KV_TYPES)}, not '{request.kv_type}'")
        return super().resolve(model, request, machine)
