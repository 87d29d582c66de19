"""sizer's memory estimates against every real measurement in ../shared/ground_truth, as one table.

    python benchmarks/accuracy.py            # summary per engine and term, then every row
    python benchmarks/accuracy.py --summary  # the summary only (what the README publishes)

Rows: published GGUF file sizes (weights), and llama.cpp / Ollama / vLLM log lines (KV cache,
compute buffers, vLLM's KV pool, capacity and concurrency).  Each runtime row names its record and
the model shape the log reveals; the same cases are asserted with tolerances in tests/estimate/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.gguf_accuracy import evaluate as evaluate_gguf  # noqa: E402
from benchmarks.gguf_accuracy import ground_truth_path  # noqa: E402
from sizer.catalog import get_model  # noqa: E402
from sizer.engines import llamacpp  # noqa: E402
from sizer.estimate.api import estimate  # noqa: E402
from sizer.types import Accelerator, Cpu, Host, Machine, ModelEntry, SystemMemory  # noqa: E402

MIB, GIB = 2**20, 2**30


@dataclass
class Row:
    engine: str
    term: str
    case: str
    predicted: float
    measured: float

    @property
    def error(self) -> float:
        return (self.predicted - self.measured) / self.measured


def _shape(**fields) -> ModelEntry:
    base = dict(id="shape", name="shape", family="test", hf_repo="test/shape", architecture="llama", num_layers=32, hidden_size=4096,
                intermediate_size=11008, num_attention_heads=32, num_kv_heads=32, head_dim=128, vocab_size=32000,
                tie_word_embeddings=False, max_context=1 << 20, source="log")
    base.update(fields)
    return ModelEntry(**base)


LLAMA2_7B = _shape()
MISTRAL_7B = _shape(num_kv_heads=8, intermediate_size=14336)
QWEN25_3B = _shape(num_layers=36, hidden_size=2048, num_attention_heads=16, num_kv_heads=2, vocab_size=151936)


def _records() -> dict[str, dict]:
    data = json.loads((ground_truth_path() / "runtime_logs.json").read_text())
    return {r["id"]: r for section in ("llama_cpp", "ollama", "vllm", "other") for r in data[section]}


def _mib(text: str) -> float:
    return float(str(text).split()[0].replace(",", ".")) * MIB


def _gib(text: str) -> float:
    return float(str(text).replace("GiB", "").replace("GB", "").strip()) * GIB


def _kv(model, ctx, parallel=1, kv="f16") -> int:
    layout = llamacpp.kv_layout(model, ctx, parallel, 512)
    return sum(llamacpp.layer_kv_bytes(model, layout, kv, kv))


def _compute(model, ctx, flash_attn, layers=None, output=True) -> int:
    layout = llamacpp.kv_layout(model, ctx, 1, 512)
    layers = range(model.num_layers) if layers is None else layers
    peaks = [llamacpp.layer_compute_peak(model, il, layout, 512, flash_attn) for il in layers]
    return max(peaks + ([llamacpp.output_peak(model, 512)] if output else []))


def _host(model, ctx) -> int:
    return llamacpp.host_input_bytes(model, llamacpp.kv_layout(model, ctx, 1, 512), 512)


# (engine, term, record id, measured key or callable, predicted callable)
LLAMA_CASES: list[tuple[str, str, str, str, Callable[[], float]]] = [
    ("llama.cpp", "kv_cache", "lcpp-qwen25-3b-llamasharp", "KV self size", lambda: _kv(QWEN25_3B, 4096)),
    ("llama.cpp", "kv_cache", "lcpp-7b-mha-4gpu-specdec", "KV self size", lambda: _kv(LLAMA2_7B, 4096)),
    ("llama.cpp", "kv_cache", "lcpp-mistral7b-class-2k-vs-32k-nofa", "KV self size @2048", lambda: _kv(MISTRAL_7B, 2048)),
    ("llama.cpp", "kv_cache", "lcpp-mistral7b-class-2k-vs-32k-nofa", "KV self size @32768", lambda: _kv(MISTRAL_7B, 32768)),
    ("llama.cpp", "kv_cache", "lcpp-mixtral-8x7b-q8-imatrix-partial", "KV self size", lambda: _kv(get_model("mixtral-8x7b-instruct-v0.1"), 512)),
    ("llama.cpp", "kv_cache", "lcpp-deepseek-mla-pr11446", "KV self size (MLA)", lambda: _kv(get_model("deepseek-v3"), 32768)),
    ("llama.cpp", "kv_cache", "iklcpp-deepseek-r1-mla-q8-32k", "KV self size", lambda: _kv(get_model("deepseek-r1"), 32768, kv="q8_0")),
    ("llama.cpp", "kv_cache", "lcpp-commandr35b-2gpu-pp", "KV self size", lambda: _kv(_shape(num_layers=40, hidden_size=8192, num_attention_heads=64, num_kv_heads=64, vocab_size=256000), 4096)),
    ("llama.cpp", "kv_cache", "lcpp-trilm-f16-llamafile", "KV self size", lambda: _kv(_shape(num_layers=30, hidden_size=3072, num_attention_heads=24, num_kv_heads=24), 512)),
    ("llama.cpp", "compute_gpu", "lcpp-qwen25-3b-llamasharp", "CUDA0 compute buffer size", lambda: _compute(QWEN25_3B, 4096, True)),
    ("llama.cpp", "compute_gpu", "lcpp-7b-mha-4gpu-specdec", "CUDA1/2/3 compute buffer size", lambda: _compute(LLAMA2_7B, 4096, False, output=False)),
    ("llama.cpp", "compute_gpu", "lcpp-7b-mha-4gpu-specdec", "CUDA0 compute buffer size", lambda: _compute(LLAMA2_7B, 4096, False, output=False)),
    ("llama.cpp", "compute_gpu", "lcpp-mistral7b-class-2k-vs-32k-nofa", "CUDA0 compute buffer size @2048", lambda: _compute(MISTRAL_7B, 2048, False)),
    ("llama.cpp", "compute_gpu", "lcpp-mistral7b-class-2k-vs-32k-nofa", "CUDA0 compute buffer size @32768", lambda: _compute(MISTRAL_7B, 32768, False)),
    ("llama.cpp", "compute_gpu", "lcpp-mixtral-8x7b-q8-imatrix-partial", "CUDA0 compute buffer size", lambda: _compute(get_model("mixtral-8x7b-instruct-v0.1"), 512, False, range(17, 32), False)),
    ("llama.cpp", "compute_host", "lcpp-mistral7b-class-2k-vs-32k-nofa", "CUDA_Host compute buffer size @2048", lambda: _host(MISTRAL_7B, 2048)),
    ("llama.cpp", "compute_host", "lcpp-mistral7b-class-2k-vs-32k-nofa", "CUDA_Host compute buffer size @32768", lambda: _host(MISTRAL_7B, 32768)),
    ("llama.cpp", "compute_host", "lcpp-7b-mha-4gpu-specdec", "CUDA_Host compute buffer size", lambda: _host(LLAMA2_7B, 4096)),
    ("llama.cpp", "compute_host", "lcpp-qwen25-3b-llamasharp", "CUDA_Host compute buffer size", lambda: _host(QWEN25_3B, 4096)),
    ("ollama", "kv_cache", "ollama-28layer-3b-80gb-par4", "memory.required.kv", lambda: _kv(get_model("llama-3.2-3b-instruct"), 2048, parallel=4)),
    ("ollama", "kv_cache", "ollama-qwen25-14b-2k-4080", "memory.required.kv", lambda: _kv(get_model("qwen2.5-14b-instruct"), 2048)),
    ("ollama", "kv_cache", "ollama-qwen25coder14b-q2k-cpu", "memory.required.kv", lambda: _kv(get_model("qwen2.5-14b-instruct"), 4096)),
]


def _gpus(count, name, total_gib, capability) -> Machine:
    accelerators = [Accelerator(index=i, vendor="nvidia", name=name, memory_total_bytes=int(total_gib * GIB), compute_capability=capability) for i in range(count)]
    return Machine(hosts=[Host(cpu=Cpu(), memory=SystemMemory(total_bytes=256 * GIB), accelerators=accelerators)])


def _vllm(ctx, tokens, machine, tp=1):
    return estimate("llama-3.1-8b-instruct", backend="vllm", quant="bf16", hardware=machine, ctx=ctx, tensor_parallel=tp,
                    gpu_memory_utilization=0.9, max_num_batched_tokens=tokens, enforce_eager=True)


H100 = _gpus(1, "NVIDIA H100 80GB HBM3", 79.22, "9.0")
RTX3090 = _gpus(1, "NVIDIA GeForce RTX 3090", 23.58, "8.6")
# vLLM V0 records: profile at max(max_model_len, 2048) tokens, CUDA graphs outside the budget.
VLLM_CASES = [
    ("vllm", "weights", "vllm-llama3-8b-h100-tp1-profiling", lambda r: _gib(r["measured"]["model weights take"]), lambda: _vllm(8192, 8192, H100).memory.weights_bytes),
    ("vllm", "weights", "vllm-llama3-8b-h100-tp2-profiling", lambda r: _gib(r["measured"]["model weights take"]), lambda: _vllm(8192, 8192, _gpus(2, "NVIDIA H100 80GB HBM3", 79.22, "9.0"), tp=2).memory.devices[0].weights_bytes),
    ("vllm", "kv_pool", "vllm-llama3-8b-h100-tp1-profiling", lambda r: _gib(r["measured"]["available_kv_cache_memory"]), lambda: _vllm(8192, 8192, H100).memory.kv_cache_bytes),
    ("vllm", "kv_pool", "vllm-llama31-8b-3090-len20000", lambda r: _gib(r["measured"]["kv_cache_size"]), lambda: _vllm(20000, 20000, RTX3090).memory.kv_cache_bytes),
    ("vllm", "kv_pool", "vllm-llama31-8b-3090-len29000", lambda r: _gib(r["measured"]["kv_cache_size"]), lambda: _vllm(29000, 29000, RTX3090).memory.kv_cache_bytes),
    ("vllm", "kv_capacity_tokens", "vllm-llama31-8b-3090-len20000", lambda r: r["measured"]["# GPU blocks"] * 16, lambda: _vllm(20000, 20000, RTX3090).memory.kv_capacity_tokens),
    ("vllm", "kv_capacity_tokens", "vllm-llama31-8b-3090-len29000", lambda r: r["measured"]["max tokens in KV cache"], lambda: _vllm(29000, 29000, RTX3090).memory.kv_capacity_tokens),
    ("vllm", "max_concurrency", "vllm-llama31-8b-3090-len20000", lambda r: 1.56, lambda: _vllm(20000, 20000, RTX3090).memory.max_concurrency),
    ("vllm", "max_concurrency", "vllm-llama31-8b-3090-len29000", lambda r: 0.82, lambda: _vllm(29000, 29000, RTX3090).memory.max_concurrency),
]


def _gpu_total(model_id, quant, hardware, ctx, flash_attn) -> int:
    result = estimate(model_id, quant=quant, hardware=hardware, ctx=ctx, flash_attn=flash_attn, gpu_layers=get_model(model_id).num_layers + 1)
    return sum(d.total_bytes for d in result.memory.devices if d.device != "cpu")


# Whole-GPU totals read off nvidia-smi by users ("~40.5GB": nvidia-smi's MiB/1024), flash attention off
# per the record's note (the slope matches materialized KQ scores).  Approximate by nature.
TOTAL_CASES = [
    ("llama.cpp", "total_gpu (approx.)", "lcpp-qwen3-32b-q5km-2x3090-ctx-sweep", "VRAM @32k", lambda: _gpu_total("qwen3-32b", "Q5_K_M", "2xrtx-3090@128", 32768, False)),
    ("llama.cpp", "total_gpu (approx.)", "lcpp-qwen3-32b-q5km-2x3090-ctx-sweep", "VRAM @40k", lambda: _gpu_total("qwen3-32b", "Q5_K_M", "2xrtx-3090@128", 40960, False)),
]


def runtime_rows() -> list[Row]:
    records = _records()
    rows = []
    for engine, term, record_id, key, predict in LLAMA_CASES:
        rows.append(Row(engine, term, f"{record_id} [{key}]", predict(), _mib(records[record_id]["measured"][key])))
    for engine, term, record_id, key, predict in TOTAL_CASES:
        measured_gib = float(records[record_id]["measured"][key].strip("~").split("GB")[0])
        rows.append(Row(engine, term, f"{record_id} [{key}]", predict(), measured_gib * GIB))
    for engine, term, record_id, measured, predict in VLLM_CASES:
        rows.append(Row(engine, term, record_id, predict(), measured(records[record_id])))
    return rows


def gguf_rows() -> list[Row]:
    rows = []
    for result in evaluate_gguf():
        if result.status != "checked":
            continue
        name = result.row.get("file") or result.row.get("repo", "?")
        rows.append(Row("gguf", "weights (file size)", f"{name} ({result.quant})", result.estimate_bytes, result.published_bytes))
    return rows


def summary(rows: list[Row]) -> str:
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.engine, row.term), []).append(row)
    lines = ["| engine | term | rows | median abs. error | worst abs. error |", "|---|---|---:|---:|---:|"]
    for (engine, term), items in groups.items():
        errors = [abs(r.error) for r in items]
        lines.append(f"| {engine} | {term} | {len(items)} | {statistics.median(errors):.2%} | {max(errors):.2%} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", action="store_true", help="only the per-engine, per-term summary")
    args = parser.parse_args(argv)
    rows = gguf_rows() + runtime_rows()
    print(summary(rows))
    if not args.summary:
        print()
        for row in rows:
            print(f"{row.engine:10} {row.term:20} {row.error:+8.2%}  predicted {row.predicted:>16,.2f}  measured {row.measured:>16,.2f}  {row.case}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
