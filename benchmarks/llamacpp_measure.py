"""sizer's llama.cpp memory rules against what llama.cpp itself allocates (../shared/SIZING.md §6).

For each catalog shape in :data:`CASES` this writes a synthetic GGUF with zero weights (no download),
quantizes it with llama.cpp's own quantizer (``llama_model_quantize`` from llama-cpp-python), loads
each file on the CPU and creates llama.cpp contexts at the settings in :data:`SETTINGS`, parses the
buffer sizes llama.cpp logs, and compares them term by term with sizer's rules:

* weights: the quantized file's tensor data (every tensor's ``ggml_nbytes``, read back with gguf-py)
  against :func:`sizer.estimate.gguf_quant.gguf_weights` for the same reduced model and file type,
  plus the per-tensor type llama.cpp chose against the type sizer predicts;
* model buffers: ``CPU_Mapped`` / ``CPU_REPACK`` (with and without mmap), which sizer does not split;
* KV cache (``CPU KV buffer size``, cell counts of the full and SWA caches), compute buffer
  (``CPU compute buffer size``) and output buffer: against sizer's ``estimate(...)`` for the CPU.

Reduced models: the real widths, heads, head sizes, vocabulary and per-layer shapes are kept but the
number of layers is cut to 2 (6 for Gemma 3, so that its five-sliding-one-full pattern is whole), and
the reduced DeepSeek-V3 shape keeps 32 of its 256 routed experts (one MoE layer of 256 experts is
22.5 GB in F16). sizer is asked about the *same* reduced ``ModelEntry`` (``model_copy(update=...)``),
so each comparison is exact; KV per layer scales linearly, and the "full model" column multiplies the
measured per-layer KV of each cache (full / sliding) by the full model's layer count of that kind.
Weights are not scaled: llama.cpp's mixing rules depend on the layer count (``use_more_bits``).
Vocabularies are tokenizer-free (``tokenizer.ggml.model = "none"`` + ``<arch>.vocab_size``: llama.cpp
adds that many dummy tokens), so the file header holds no tokenizer and only tensor data is compared.

    python benchmarks/llamacpp_measure.py                   # measure every case, write the JSON, print the table
    python benchmarks/llamacpp_measure.py --cases llama-3.1-8b-instruct --out /tmp/m.json
    python benchmarks/llamacpp_measure.py --table           # the table from benchmarks/llamacpp_measured.json only

Needs ``pip install llama-cpp-python`` (builds llama.cpp from source) for measuring; ``--table`` does not.
The recorded results (``benchmarks/llamacpp_measured.json``) are data for
``tests/estimate/test_llamacpp_measured.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sizer.types import ModelEntry  # noqa: E402

MIB = 2**20
RECORD_PATH = Path(__file__).resolve().parent / "llamacpp_measured.json"

#: Tolerances the brief sets (tests/estimate/test_llamacpp_measured.py asserts them).
KV_TOLERANCE = 0.005
COMPUTE_TOLERANCE = 0.10
WEIGHTS_TOLERANCE = 0.01
#: llama.cpp logs buffer sizes in MiB with two decimals.
LOG_ROUNDING = 0.005 * MIB


# --------------------------------------------------------------------------- what is measured


@dataclass(frozen=True)
class Case:
    """One catalog model, reduced to a few layers (see the module docstring)."""

    model_id: str
    layers: int
    ftypes: tuple[str, ...] = ("Q4_K_M", "Q8_0")
    overrides: dict[str, Any] = field(default_factory=dict)  # further ModelEntry fields changed
    why: str = ""
    extra_settings: tuple[dict[str, Any], ...] = ()


CASES: tuple[Case, ...] = (
    Case(
        "llama-3.1-8b-instruct",
        2,
        why="known anchor: 8192 tokens of f16 KV = 1024 MiB for 32 layers (SIZING.md §2)",
        extra_settings=({"n_ctx": 8192, "flash_attn": True}, {"n_ctx": 8192, "flash_attn": False}),
    ),
    Case("qwen2.5-7b-instruct", 2, why="q/k/v biases, 152k vocabulary, 4 KV heads, ffn 18944 (not a multiple of 256)"),
    Case("phi-3-mini-4k-instruct", 2, why="fused attn_qkv and gate+up ffn_up in GGUF; MHA (32 KV heads), head_dim 96"),
    Case(
        "gemma-3-4b-it",
        6,
        why="sliding window 1024 on 5 of 6 layers (llama.cpp's hard-coded gemma3 pattern), 262k tied vocabulary, head_dim 256",
    ),
    Case(
        "gpt-oss-20b",
        2,
        ftypes=("MXFP4_MOE", "Q8_0", "Q4_K_M"),
        why="attention sinks, MXFP4 experts (source file holds them as MXFP4), window 128 on every other layer, 201k vocabulary",
    ),
    Case("qwen3-30b-a3b", 2, why="MoE: 128 experts, 8 used, expert width 768, QK norm"),
    Case(
        "deepseek-v3",
        2,
        overrides={"num_experts": 32, "first_dense_layers": 1},
        why="mainline MLA (kv_lora_rank 512 + rope 64, K-only cache), q_lora, shared expert; 1 dense + 1 MoE layer, "
        "32 of 256 routed experts kept (8 used)",
    ),
)

_DEFAULT = {
    "n_ctx": 4096,
    "n_batch": 2048,
    "n_ubatch": 512,
    "n_seq_max": 1,
    "kv_unified": False,
    "flash_attn": True,
    "type_k": "f16",
    "type_v": "f16",
}

#: Context settings measured for every case (llama.cpp's n_ctx is the total over all sequences).
SETTINGS: tuple[dict[str, Any], ...] = (
    {"n_ctx": 4096, "flash_attn": True},
    {"n_ctx": 4096, "flash_attn": False},
    {"n_ctx": 16384, "flash_attn": True},
    {"n_ctx": 16384, "flash_attn": False},
    {"n_ctx": 8192, "n_batch": 1024, "n_ubatch": 256, "flash_attn": True, "type_k": "q8_0", "type_v": "q8_0"},
    {"n_ctx": 4096, "n_ubatch": 2048, "flash_attn": True},
    {"n_ctx": 16384, "n_seq_max": 4, "kv_unified": False, "flash_attn": True},
    # llama-server's default (-np auto): 4 slots sharing one unified cache. sizer has no such layout.
    {"n_ctx": 16384, "n_seq_max": 4, "kv_unified": True, "flash_attn": True},
)

#: File type whose contexts are measured (KV and compute buffers do not depend on the weight type);
#: the other file types are loaded for their weights only, plus one context to show that.
RUNTIME_FTYPE = {"gpt-oss-20b": "MXFP4_MOE"}


#: Probes that explain a disagreement rather than check a catalog shape: the reduced DeepSeek-V3 shape with
#: dense layers only (no experts) and the head count varied, loaded as its F16 source (compute buffers do
#: not depend on the weight type). They show how the MLA attention stage grows with heads x ubatch.
PROBES: tuple[tuple[str, Case], ...] = tuple(
    (
        f"deepseek-v3 dense, {heads} heads",
        Case("deepseek-v3", 2, ftypes=("F16",), overrides={"num_experts": 8, "first_dense_layers": 2,
                                                            "num_attention_heads": heads, "num_kv_heads": heads}),
    )
    for heads in (128, 64, 32)
)
PROBE_SETTINGS: tuple[dict[str, Any], ...] = tuple(
    {"n_ctx": 4096, "flash_attn": fa, "n_ubatch": ub} for fa in (True, False) for ub in (512, 1024)
)


def settings_for(case: Case) -> list[dict[str, Any]]:
    return [{**_DEFAULT, **s} for s in (*SETTINGS, *case.extra_settings)]


def sizer_models_layout(settings: dict[str, Any]) -> bool:
    """sizer's kv_layout: a unified cache exactly when there is one sequence (llama-server -np N)."""
    return settings["n_seq_max"] == 1 or not settings["kv_unified"]


# --------------------------------------------------------------------------- the reduced models


def full_model(case: Case) -> ModelEntry:
    from sizer.catalog import get_model

    return get_model(case.model_id)


def reduced_model(case: Case, overrides: Optional[dict[str, Any]] = None) -> ModelEntry:
    """The catalog entry with `case.layers` layers (and the case's other overrides), same everything else."""
    base = full_model(case)
    update: dict[str, Any] = {"id": f"{base.id}-{case.layers}l", "num_layers": case.layers}
    update.update(case.overrides if overrides is None else overrides)
    if base.layer_pattern:
        update.setdefault("layer_pattern", base.layer_pattern)
    return base.model_copy(update=update)


def layer_kind_counts(model: ModelEntry) -> dict[str, int]:
    counts: dict[str, int] = {}
    for il in range(model.num_layers):
        kind = model.layer_kind(il)
        counts[kind] = counts.get(kind, 0) + 1
    return counts


# --------------------------------------------------------------------------- writing the GGUF


def gguf_arch_name(model: ModelEntry) -> str:
    import gguf

    from sizer.estimate.tensors import layout_for

    return gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH[layout_for(model).gguf_arch]]


def write_metadata(w, model: ModelEntry) -> None:
    """What convert_hf_to_gguf writes for this architecture, as far as llama.cpp's loader needs it."""
    import gguf

    arch = gguf_arch_name(model)
    w.add_name(f"{model.id} (synthetic, zero weights)")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_context_length(model.max_context)
    w.add_embedding_length(model.hidden_size)
    w.add_block_count(model.num_layers)
    if model.intermediate_size:
        w.add_feed_forward_length(model.intermediate_size)
    w.add_head_count(model.num_attention_heads)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(10000.0)
    if model.is_moe:
        w.add_expert_count(model.num_experts)
        w.add_expert_used_count(model.num_experts_per_token)
        w.add_expert_feed_forward_length(model.moe_intermediate_size)
    if model.sliding_window and arch != "phi3":
        w.add_sliding_window(model.sliding_window)
    if model.is_mla:
        rope, nope = model.qk_rope_head_dim, model.qk_nope_head_dim
        w.add_head_count_kv(1)  # the converter turns MLA into MQA over the latent
        w.add_key_length(model.kv_lora_rank + rope)
        w.add_value_length(model.kv_lora_rank)
        w.add_key_length_mla(nope + rope)
        w.add_value_length_mla(model.v_head_dim or nope)
        w.add_rope_dimension_count(rope)
        w.add_kv_lora_rank(model.kv_lora_rank)
        if model.q_lora_rank:
            w.add_q_lora_rank(model.q_lora_rank)
        w.add_leading_dense_block_count(model.first_dense_layers)
        w.add_expert_shared_count(model.num_shared_experts)
        w.add_expert_weights_scale(2.5)
        w.add_expert_weights_norm(True)
        w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
    else:
        w.add_head_count_kv(model.num_kv_heads)
        w.add_key_length(model.head_dim)
        w.add_value_length(model.head_dim)
        w.add_rope_dimension_count(model.head_dim)
    # A tokenizer-free vocabulary of the right size: llama.cpp adds vocab_size dummy tokens.
    w.add_tokenizer_model("none")
    w.add_vocab_size(model.vocab_size)


def write_source_gguf(model: ModelEntry, path: Path) -> dict[str, str]:
    """The F16 file convert_hf_to_gguf would write (1-D tensors, norms, biases, routers in F32; gpt-oss
    experts in MXFP4), every tensor zero. Returns each tensor's source type."""
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFWriter
    from gguf.constants import GGML_QUANT_SIZES

    from sizer.estimate.gguf_quant import source_type
    from sizer.estimate.tensors import model_tensors

    tensors = model_tensors(model)
    w = GGUFWriter(str(path), gguf_arch_name(model))
    write_metadata(w, model)
    types: dict[str, str] = {}
    byte_shapes = []
    for t in tensors:
        qt = GGMLQuantizationType[source_type(t, model, "F16")]
        block, size = GGML_QUANT_SIZES[qt]
        byte_shape = (*reversed(t.shape[1:]), t.shape[0] // block * size)
        nbytes = int(np.prod(byte_shape))
        w.add_tensor_info(t.name, byte_shape, np.dtype(np.uint8), nbytes, raw_dtype=qt)
        types[t.name] = qt.name
        byte_shapes.append(nbytes)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for nbytes in byte_shapes:
        w.write_tensor_data(np.zeros(nbytes, dtype=np.uint8))
    w.close()
    return types


def read_gguf_tensors(path: Path) -> tuple[dict[str, str], dict[str, int], dict[str, tuple[int, ...]]]:
    """(type, bytes, ggml shape) of every tensor in a GGUF file, read with gguf-py."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    sizes = {t.name: int(t.n_bytes) for t in reader.tensors}
    shapes = {t.name: tuple(int(x) for x in t.shape) for t in reader.tensors}
    return types, sizes, shapes


# --------------------------------------------------------------------------- llama.cpp (subprocess workers)

GGML_TYPE_IDS = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "bf16": 30}

_RE_MODEL_BUF = re.compile(r"(\S+) model buffer size =\s+([\d.]+) MiB")
_RE_KV_BUF = re.compile(r"(\S+) KV buffer size =\s+([\d.]+) MiB")
_RE_KV_SIZE = re.compile(
    r"llama_kv_cache: size =\s+([\d.]+) MiB \(\s*(\d+) cells,\s+(\d+) layers,\s+(\d+)/(\d+) seqs\), "
    r"K \((\S+)\):\s+([\d.]+) MiB, V \((\S+)\):\s+([\d.]+) MiB"
)
_RE_COMPUTE = re.compile(r"(\S+) compute buffer size =\s+([\d.]+) MiB")
_RE_OUTPUT = re.compile(r"(\S+)\s+output buffer size =\s+([\d.]+) MiB")
_RE_ISWA = re.compile(r"creating\s+(non-SWA|SWA) KV cache, size = (\d+) cells")
_RE_CTX = re.compile(r"llama_context: (n_ctx|n_ctx_seq|n_batch|n_ubatch|n_seq_max)\s+= (\d+)")


def parse_model_log(text: str) -> dict[str, Any]:
    buffers: dict[str, float] = {}
    for name, mib in _RE_MODEL_BUF.findall(text):
        buffers[name] = buffers.get(name, 0.0) + float(mib)
    return {"model_buffers_mib": buffers}


def parse_context_log(text: str) -> dict[str, Any]:
    kv_buffers = [float(m) for _, m in _RE_KV_BUF.findall(text)]
    caches = [
        {
            "size_mib": float(m[0]),
            "cells": int(m[1]),
            "layers": int(m[2]),
            "seqs": int(m[3]),
            "streams": int(m[4]),
            "type_k": m[5],
            "k_mib": float(m[6]),
            "type_v": m[7],
            "v_mib": float(m[8]),
        }
        for m in _RE_KV_SIZE.findall(text)
    ]
    compute = {name: float(mib) for name, mib in _RE_COMPUTE.findall(text)}
    outputs = [float(mib) for _, mib in _RE_OUTPUT.findall(text)]
    iswa = {kind: int(cells) for kind, cells in _RE_ISWA.findall(text)}
    cparams = {k: int(v) for k, v in _RE_CTX.findall(text)}
    return {
        "kv_buffer_mib": kv_buffers,
        "kv_caches": caches,
        "compute_buffer_mib": compute,
        "output_buffer_mib": outputs[0] if outputs else None,
        "iswa_cells": iswa,
        "llama_cparams": cparams,
    }


def _install_log_capture():
    import ctypes

    import llama_cpp

    lines: list[str] = []

    @llama_cpp.llama_log_callback
    def _log(level, text, user_data):
        lines.append(text.decode("utf-8", "replace") if text else "")

    llama_cpp.llama_log_set(_log, ctypes.c_void_p(0))
    return lines, _log  # keep the callback alive


def _worker_load(path: str, settings: list[dict[str, Any]], use_mmap: bool) -> dict[str, Any]:
    import llama_cpp

    lines, keep = _install_log_capture()
    llama_cpp.llama_backend_init()
    mparams = llama_cpp.llama_model_default_params()
    mparams.n_gpu_layers = 0
    # llama_load_mode (include/llama.h): 1 = MMAP, 0 = NONE (read into an allocated buffer); lazy reading needs mmap.
    mparams.load_mode = 1 if use_mmap else 0
    if not use_mmap:
        mparams.lazy_mode = 0
    model = llama_cpp.llama_model_load_from_file(path.encode(), mparams)
    if not model:
        return {"error": "model load failed", "log_tail": "".join(lines)[-4000:]}
    result: dict[str, Any] = {**parse_model_log("".join(lines)), "runs": []}
    lines.clear()
    for s in settings:
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = s["n_ctx"]
        cparams.n_batch = s["n_batch"]
        cparams.n_ubatch = s["n_ubatch"]
        cparams.n_seq_max = s["n_seq_max"]
        cparams.kv_unified = s["kv_unified"]
        cparams.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if s["flash_attn"] else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        cparams.type_k = GGML_TYPE_IDS[s["type_k"]]
        cparams.type_v = GGML_TYPE_IDS[s["type_v"]]
        cparams.swa_full = bool(s.get("swa_full", False))
        cparams.n_threads = cparams.n_threads_batch = os.cpu_count() or 1
        t0 = time.time()
        ctx = llama_cpp.llama_init_from_model(model, cparams)
        text = "".join(lines)
        lines.clear()
        run = {"settings": s, **parse_context_log(text), "seconds": round(time.time() - t0, 2)}
        if not ctx:
            run["error"] = "context creation failed"
            run["log_tail"] = text[-3000:]
        else:
            llama_cpp.llama_free(ctx)
        result["runs"].append(run)
    llama_cpp.llama_model_free(model)
    del keep
    return result


def _worker_quantize(src: str, dst: str, ftype: str, allow_requantize: str = "0") -> dict[str, Any]:
    import ctypes

    import llama_cpp

    from sizer.estimate.gguf_quant import llama_file_type_id, parse_ftype

    lines, keep = _install_log_capture()
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_file_type_id(parse_ftype(ftype))
    params.nthread = os.cpu_count() or 1
    params.allow_requantize = allow_requantize == "1"  # llama-quantize --allow-requantize
    t0 = time.time()
    rc = llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params))
    del keep
    return {"rc": int(rc), "seconds": round(time.time() - t0, 1), "log_tail": "".join(lines)[-2000:] if rc else ""}


def _run_worker(args: list[str], timeout: int = 3600) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", *args], capture_output=True, text=True, timeout=timeout, cwd=str(REPO_ROOT), check=False
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("@@RESULT "):
            return json.loads(line[len("@@RESULT ") :])
    return {"error": f"worker exited with {proc.returncode}", "stderr_tail": proc.stderr[-3000:], "stdout_tail": proc.stdout[-2000:]}


def load_and_measure(path: Path, settings: list[dict[str, Any]], *, use_mmap: bool = True) -> dict[str, Any]:
    """Model buffers and one context per setting, in a child process (a failed GGML_ASSERT aborts it).

    If the child dies, each setting is retried in its own child so that one bad setting loses only itself."""
    result = _run_worker(["load", str(path), json.dumps(settings), "1" if use_mmap else "0"])
    if "error" not in result or len(settings) <= 1:
        return result
    merged: dict[str, Any] = {"runs": [], "batch_error": result}
    for s in settings:
        one = _run_worker(["load", str(path), json.dumps([s]), "1" if use_mmap else "0"])
        merged.setdefault("model_buffers_mib", one.get("model_buffers_mib"))
        merged["runs"].extend(one.get("runs") or [{"settings": s, "error": one.get("error"), "stderr_tail": one.get("stderr_tail")}])
    return merged


def build_info() -> dict[str, Any]:
    import llama_cpp

    info: dict[str, Any] = {"llama_cpp_python": getattr(llama_cpp, "__version__", "?")}
    try:
        info["system_info"] = llama_cpp.llama_print_system_info().decode().strip()
    except (AttributeError, OSError, UnicodeDecodeError) as exc:  # informational only
        info["system_info"] = f"unavailable: {exc}"
    # llama-cpp-python's CHANGELOG names the vendored llama.cpp commit of each release.
    info["llama_cpp_commit"] = VENDORED_COMMITS.get(info["llama_cpp_python"], "unknown")
    info["python"] = platform.python_version()
    info["machine"] = platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    info["cpu"] = cpu
    info["cpu_count"] = os.cpu_count()
    return info


#: llama-cpp-python release -> ggml-org/llama.cpp commit it vendors (its CHANGELOG.md).
VENDORED_COMMITS = {"0.3.36": "0c1e57098"}


# --------------------------------------------------------------------------- measuring


def measure_case(case: Case, workdir: Path, log=print) -> dict[str, Any]:
    model = reduced_model(case)
    record: dict[str, Any] = {
        "model_id": case.model_id,
        "num_layers": case.layers,
        "full_num_layers": full_model(case).num_layers,
        "overrides": {"num_layers": case.layers, **case.overrides, **({"layer_pattern": model.layer_pattern} if model.layer_pattern else {})},
        "why": case.why,
        "files": [],
        "runs": [],
    }
    src = workdir / f"{model.id}-F16.gguf"
    t0 = time.time()
    source_types = write_source_gguf(model, src)
    log(f"  wrote {src.name}: {src.stat().st_size / 1e9:.2f} GB in {time.time() - t0:.0f} s")
    runtime_ftype = RUNTIME_FTYPE.get(case.model_id, case.ftypes[0])
    settings = settings_for(case)
    for ftype in case.ftypes:
        dst = workdir / f"{model.id}-{ftype}.gguf"
        q = _run_worker(["quantize", str(src), str(dst), ftype, "0"])
        stock_failure = None
        if q.get("rc") != 0 and "requantizing from type" in q.get("log_tail", ""):
            # Stock llama-quantize refuses to requantize an already-quantized tensor (gpt-oss's MXFP4
            # experts into any other file type); measure what --allow-requantize makes instead.
            found = re.search(r"failed to quantize: (.*)", q["log_tail"])
            stock_failure = found.group(1).strip() if found else q["log_tail"].strip().splitlines()[-1]
            log(f"  {ftype}: stock llama-quantize fails ({stock_failure}); retrying with --allow-requantize")
            q = _run_worker(["quantize", str(src), str(dst), ftype, "1"])
        if q.get("rc") != 0 or not dst.exists():
            log(f"  {ftype}: quantization failed: {q}")
            record["files"].append({"ftype": ftype, "error": "quantization failed", "detail": q})
            continue
        types, sizes, shapes = read_gguf_tensors(dst)
        entry: dict[str, Any] = {
            "ftype": ftype,
            "file_bytes": dst.stat().st_size,
            "tensor_data_bytes": sum(sizes.values()),
            "tensor_types": types,
            "tensor_bytes": sizes,
            "tensor_shapes": {k: list(v) for k, v in shapes.items()},
            "quantize_seconds": q.get("seconds"),
            "allow_requantize": stock_failure is not None,
        }
        if stock_failure:
            entry["stock_quantize_error"] = stock_failure
        is_runtime = ftype == runtime_ftype
        runs = settings if is_runtime else settings[:1]
        loaded = load_and_measure(dst, runs, use_mmap=True)
        entry["model_buffers_mib"] = loaded.get("model_buffers_mib")
        if "error" in loaded:
            entry["load_error"] = loaded
        nommap = load_and_measure(dst, settings[:1], use_mmap=False)
        entry["model_buffers_no_mmap_mib"] = nommap.get("model_buffers_mib")
        record["files"].append(entry)
        for run in loaded.get("runs", []):
            record["runs"].append({"ftype": ftype, **run})
        log(f"  {ftype}: {entry['tensor_data_bytes'] / 1e9:.3f} GB of tensors, buffers {entry['model_buffers_mib']} "
            f"(no mmap {entry['model_buffers_no_mmap_mib']}), {len(loaded.get('runs', []))} contexts")
        dst.unlink()
    src.unlink()
    del source_types
    return record


def measure_probe(name: str, case: Case, workdir: Path) -> dict[str, Any]:
    model = reduced_model(case)
    src = workdir / f"probe-{model.id}-{model.num_attention_heads}h-F16.gguf"
    write_source_gguf(model, src)
    settings = [{**_DEFAULT, **s} for s in PROBE_SETTINGS]
    loaded = load_and_measure(src, settings)
    src.unlink()
    return {
        "name": name,
        "model_id": case.model_id,
        "overrides": {"num_layers": case.layers, **case.overrides},
        "ftype": "F16",
        "runs": [{"ftype": "F16", **run} for run in loaded.get("runs", [])],
    }


# --------------------------------------------------------------------------- sizer's side


def sizer_prediction(model: ModelEntry, ftype: str, settings: dict[str, Any]) -> dict[str, int]:
    """sizer's llama.cpp estimate for this reduced model on the CPU (no hardware given)."""
    from sizer.estimate.api import estimate

    parallel = settings["n_seq_max"]
    est = estimate(
        model,
        quant=ftype,
        backend="llama.cpp",
        ctx=settings["n_ctx"] // parallel,
        parallel=parallel,
        kv_type=settings["type_k"],
        kv_type_v=settings["type_v"],
        flash_attn=settings["flash_attn"],
        n_batch=settings["n_batch"],
        n_ubatch=settings["n_ubatch"],
    )
    cpu = next(d for d in est.memory.devices if d.device == "cpu")
    terms = cpu.terms
    return {
        "kv_cache": terms.get("kv_cache_bytes", 0),
        "compute": terms.get("compute_bytes", 0),
        "output_buffer": terms.get("output_buffer_bytes", 0),
        "weights": cpu.weights_bytes,
        "n_ctx": est.settings.n_ctx,
    }


def sizer_cells(model: ModelEntry, settings: dict[str, Any]) -> dict[str, int]:
    """Cells per full / sliding layer in sizer's kv_layout (all streams)."""
    from sizer.engines import llamacpp

    parallel = settings["n_seq_max"]
    n_ubatch = min(settings["n_ubatch"], settings["n_batch"])
    layout = llamacpp.kv_layout(model, settings["n_ctx"] // parallel, parallel, n_ubatch)
    return {"full": layout.n_ctx, "swa": layout.swa_cells, "streams": layout.streams}


def source_type_of(model: ModelEntry, name: str) -> str:
    """The type convert_hf_to_gguf gives a tensor (what the synthetic source file holds)."""
    from sizer.estimate.gguf_quant import source_type
    from sizer.estimate.tensors import model_tensors

    spec = next(t for t in model_tensors(model) if t.name == name)
    return source_type(spec, model, "F16")


def sizer_weights(model: ModelEntry, ftype: str):
    from sizer.estimate.gguf_quant import gguf_weights

    return gguf_weights(model, ftype)


#: x86 CPU_REPACK rule read from ggml/src/ggml-cpu/repack.cpp (ggml_repack_get_optimal_repack_type):
#: with AVX2, Q4_0, Q4_K, IQ4_NL and MXFP4 weights (Q2_K with AVX-512) whose ne[1] is a multiple of 8
#: are repacked when a MUL_MAT (2-D) or MUL_MAT_ID (3-D experts) uses them. Not part of sizer: shown
#: so that the lead can see what a repack term would predict.
REPACK_TYPES_AVX2 = {"Q4_0", "Q4_K", "IQ4_NL", "MXFP4"}
REPACK_TYPES_AVX512 = {"Q2_K"}


def repack_rule_bytes(types: dict[str, str], sizes: dict[str, int], shapes: dict[str, tuple[int, ...]], *, avx512: bool) -> int:
    allowed = REPACK_TYPES_AVX2 | (REPACK_TYPES_AVX512 if avx512 else set())
    total = 0
    for name, ggml_type in types.items():
        shape = shapes[name]
        if ggml_type not in allowed or not name.endswith(".weight") or name.startswith("token_embd"):
            continue
        is_expert = "_exps." in name
        if (is_expert and len(shape) != 3) or (not is_expert and len(shape) != 2):
            continue
        if shape[1] % 8:
            continue
        total += sizes[name]
    return total


# --------------------------------------------------------------------------- comparing


@dataclass
class Row:
    model: str
    ftype: str
    setting: str
    term: str
    sizer: Optional[float]  # bytes
    measured: Optional[float]  # bytes
    full_model_measured: Optional[float] = None  # bytes, KV scaled to the full layer count
    full_model_sizer: Optional[float] = None
    modelled: bool = True
    note: str = ""

    @property
    def error(self) -> Optional[float]:
        if self.sizer is None or not self.measured:
            return None
        return (self.sizer - self.measured) / self.measured


def setting_label(s: dict[str, Any]) -> str:
    parts = [f"c{s['n_ctx']}", f"ub{s['n_ubatch']}", "fa" if s["flash_attn"] else "nofa"]
    if s["n_batch"] != 2048:
        parts.append(f"b{s['n_batch']}")
    if s["type_k"] != "f16" or s["type_v"] != "f16":
        parts.append(f"{s['type_k']}/{s['type_v']}")
    if s["n_seq_max"] != 1:
        parts.append(f"np{s['n_seq_max']}{'u' if s['kv_unified'] else ''}")
    return " ".join(parts)


def case_from_record(rec: dict[str, Any]) -> Case:
    known = {c.model_id: c for c in CASES}
    base = known.get(rec["model_id"])
    overrides = {k: v for k, v in rec["overrides"].items() if k != "num_layers"}
    return Case(rec["model_id"], rec["num_layers"], ftypes=base.ftypes if base else (), overrides=overrides)


def compare(record: dict[str, Any]) -> list[Row]:
    """Every term of every recorded case, sizer vs measured."""
    rows: list[Row] = []
    avx512 = "AVX512 = 1" in record.get("build", {}).get("system_info", "")
    for rec in record["cases"]:
        case = case_from_record(rec)
        model = reduced_model(case, case.overrides)
        full = full_model(case)
        for f in rec["files"]:
            if "error" in f:
                rows.append(Row(rec["model_id"], f["ftype"], "file", "weights", None, None, note=f["error"]))
                continue
            w = sizer_weights(model, f["ftype"])
            predicted_types = {t.name: t.dtype for t in w.tensors}
            wrong = sorted(
                f"{name}: sizer {predicted_types.get(name)} / llama.cpp {actual}"
                for name, actual in f["tensor_types"].items()
                if predicted_types.get(name) != actual
            )
            note = f"{len(wrong)} tensor type(s) differ" + (f": {'; '.join(wrong[:2])}" if wrong else "") if wrong else "all tensor types agree"
            requantized = bool(f.get("allow_requantize"))
            if requantized:
                note = f"stock llama-quantize: {f.get('stock_quantize_error')}; measured with --allow-requantize; {note}"
            rows.append(Row(rec["model_id"], f["ftype"], "file", "weights (tensor data)", w.total_bytes, f["tensor_data_bytes"],
                            modelled=not requantized, note=note))
            if requantized:
                # The tensors llama.cpp quantized from float sources, i.e. all but the MXFP4 source experts.
                kept = [t for t in w.tensors if source_type_of(model, t.name) != "MXFP4"]
                names = {t.name for t in kept}
                measured = sum(b for name, b in f["tensor_bytes"].items() if name in names)
                still_wrong = [x for x in wrong if x.split(":")[0] in names]
                rows.append(Row(rec["model_id"], f["ftype"], "file", "weights without the MXFP4-source experts", sum(t.bytes for t in kept),
                                measured, note=f"{len(still_wrong)} tensor type(s) differ" if still_wrong else "all tensor types agree"))
            buffers = f.get("model_buffers_mib") or {}
            nommap = f.get("model_buffers_no_mmap_mib") or {}
            shapes = {k: tuple(v) for k, v in f["tensor_shapes"].items()}
            rule = repack_rule_bytes(f["tensor_types"], f["tensor_bytes"], shapes, avx512=avx512)
            repack = nommap.get("CPU_REPACK", buffers.get("CPU_REPACK", 0.0)) * MIB
            rows.append(
                Row(rec["model_id"], f["ftype"], "load", "repack buffer (CPU_REPACK)", 0, repack or None, modelled=False,
                    note=f"sizer has no repack term; repack.cpp rule gives {rule / MIB:.2f} MiB")
            )
            if nommap:
                loaded = sum(nommap.values()) * MIB
                rows.append(Row(rec["model_id"], f["ftype"], "load", "model buffers, no mmap (CPU + CPU_REPACK)", w.total_bytes, loaded,
                                modelled=not requantized, note=", ".join(f"{k} {v:.2f} MiB" for k, v in nommap.items())))
            if buffers:
                mapped = sum(buffers.values()) * MIB
                rows.append(Row(rec["model_id"], f["ftype"], "load", "model buffers, mmap (CPU_Mapped + CPU_REPACK)", w.total_bytes, mapped,
                                modelled=False, note=", ".join(f"{k} {v:.2f} MiB" for k, v in buffers.items())))
        for run in rec["runs"]:
            s = run["settings"]
            label = setting_label(s)
            if "error" in run:
                rows.append(Row(rec["model_id"], run["ftype"], label, "context", None, None, note=str(run.get("error"))))
                continue
            modelled = sizer_models_layout(s)
            pred = sizer_prediction(model, run["ftype"], s)
            kv_measured = sum(run["kv_buffer_mib"]) * MIB
            full_kv_measured = full_kv_sizer = None
            if run["kv_caches"]:
                # llama_kv_cache_iswa creates the full (non-SWA) cache first, then the SWA one.
                kinds = ["F", "S"] if len(run["kv_caches"]) == 2 and run["iswa_cells"] else ["F"] * len(run["kv_caches"])
                per_layer = {kind: cache["size_mib"] * MIB / max(cache["layers"], 1) for kind, cache in zip(kinds, run["kv_caches"])}
                counts = layer_kind_counts(full)
                full_kv_measured = sum(per_layer.get("S" if k in ("S", "C") else "F", 0.0) * n for k, n in counts.items())
                full_kv_sizer = sizer_prediction(full, run["ftype"], s)["kv_cache"] if modelled else None
            note = "" if modelled else "kv_unified with several sequences: not a layout sizer models"
            cells = sizer_cells(model, s)
            got_cells = run["kv_caches"]
            if got_cells:
                cell_note = f"cells llama.cpp {'/'.join(str(c['cells'] * c['streams']) for c in got_cells)}"
                cell_note += f", sizer {cells['full']}" + (f"/{cells['swa']}" if len(got_cells) > 1 else "")
                note = f"{note}; {cell_note}" if note else cell_note
            rows.append(Row(rec["model_id"], run["ftype"], label, "KV cache", pred["kv_cache"], kv_measured, full_kv_measured, full_kv_sizer,
                            modelled=modelled, note=note))
            compute = sum(run["compute_buffer_mib"].values()) * MIB
            rows.append(Row(rec["model_id"], run["ftype"], label, "compute buffer", pred["compute"], compute, modelled=modelled))
            if run.get("output_buffer_mib") is not None:
                rows.append(Row(rec["model_id"], run["ftype"], label, "output buffer", pred["output_buffer"], run["output_buffer_mib"] * MIB,
                                modelled=modelled))
    return rows


def compare_probes(record: dict[str, Any]) -> list[Row]:
    rows = []
    for probe in record.get("probes", []):
        overrides = {k: v for k, v in probe["overrides"].items() if k != "num_layers"}
        case = Case(probe["model_id"], probe["overrides"]["num_layers"], overrides=overrides)
        model = reduced_model(case, overrides)
        for run in probe["runs"]:
            if "error" in run:
                continue
            s = run["settings"]
            pred = sizer_prediction(model, "F16", s)
            rows.append(Row(probe["name"], "F16", setting_label(s), "compute buffer", pred["compute"],
                            sum(run["compute_buffer_mib"].values()) * MIB, modelled=False, note="probe"))
    return rows


def print_table(rows: list[Row], out=sys.stdout) -> None:
    def mib(v: Optional[float]) -> str:
        return "-" if v is None else f"{v / MIB:,.2f}"

    header = f"{'model':<24} {'file':<9} {'setting':<24} {'term':<46} {'sizer MiB':>12} {'measured MiB':>13} {'err %':>8}  {'full: meas / sizer MiB':>24}  note"
    print(header, file=out)
    print("-" * len(header), file=out)
    for r in rows:
        err = "-" if r.error is None else f"{100 * r.error:+.2f}"
        full = "" if r.full_model_measured is None else f"{r.full_model_measured / MIB:,.1f} / {mib(r.full_model_sizer)}"
        flag = "" if r.modelled else " [not modelled]"
        print(f"{r.model:<24} {r.ftype:<9} {r.setting:<24} {r.term + flag:<46} {mib(r.sizer):>12} {mib(r.measured):>13} {err:>8}  {full:>24}  {r.note}", file=out)


def summary(rows: list[Row], out=sys.stdout) -> None:
    limits = {
        "KV cache": KV_TOLERANCE,
        "compute buffer": COMPUTE_TOLERANCE,
        "weights (tensor data)": WEIGHTS_TOLERANCE,
        "weights without the MXFP4-source experts": WEIGHTS_TOLERANCE,
        "output buffer": 0.01,
    }
    print("\nOutside tolerance (modelled terms only; logged MiB have 2 decimals, so 0.005 MiB is rounding):", file=out)
    bad = [
        r for r in rows
        if r.modelled and r.term in limits and r.error is not None
        and abs(r.error) > limits[r.term] and abs(r.sizer - r.measured) > LOG_ROUNDING
    ]
    for r in bad:
        print(f"  {r.model} {r.ftype} {r.setting} {r.term}: sizer {r.sizer / MIB:,.2f} MiB vs {r.measured / MIB:,.2f} MiB ({100 * r.error:+.2f}%)", file=out)
    if not bad:
        print("  none", file=out)


# --------------------------------------------------------------------------- main


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        kind, *rest = argv[1:]
        if kind == "load":
            path, settings, use_mmap = rest
            result = _worker_load(path, json.loads(settings), use_mmap == "1")
        elif kind == "quantize":
            result = _worker_quantize(*rest)
        else:
            raise SystemExit(f"unknown worker {kind}")
        print("@@RESULT " + json.dumps(result), flush=True)
        return 0

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", action="store_true", help="only print the comparison from the recorded JSON")
    parser.add_argument("--cases", nargs="*", help="model ids to measure (default: all)")
    parser.add_argument("--out", type=Path, default=RECORD_PATH, help="where to write the measurements")
    parser.add_argument("--record", type=Path, default=RECORD_PATH, help="recorded JSON to read with --table")
    parser.add_argument("--workdir", type=Path, default=None, help="where the temporary GGUF files go")
    parser.add_argument("--probes", action="store_true", help="also measure the MLA head-count probes (PROBES)")
    args = parser.parse_args(argv)

    if args.table:
        record = json.loads(args.record.read_text())
        report(record)
        return 0

    cases = [c for c in CASES if not args.cases or c.model_id in args.cases]
    record: dict[str, Any] = {
        "about": __doc__.split("\n\n")[0].strip(),
        "method": (
            "Synthetic zero-weight GGUFs written with gguf-py from sizer's tensor list (sizer.estimate.tensors.model_tensors) "
            "in the converter's source types (F16; F32 norms/biases/routers; MXFP4 gpt-oss experts), tokenizer.ggml.model='none' "
            "with <arch>.vocab_size; quantized by llama.cpp's llama_model_quantize; loaded on the CPU (n_gpu_layers=0, mmap on, "
            "and again with mmap off); one llama_context per setting via the C API of llama-cpp-python; sizes parsed from "
            "llama.cpp's log lines (MiB with 2 decimals). Layers reduced as stated per case; sizer is asked about the same reduced "
            "ModelEntry."
        ),
        "build": build_info(),
        "measured_on": time.strftime("%Y-%m-%d"),
        "settings_defaults": _DEFAULT,
        "cases": [],
    }
    if args.out.exists():
        previous = json.loads(args.out.read_text())
        keep = [c for c in previous.get("cases", []) if c["model_id"] not in {case.model_id for case in cases}]
        record["cases"].extend(keep)
        if previous.get("probes"):
            record["probes"] = previous["probes"]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="llamacpp-measure-"))
    workdir.mkdir(parents=True, exist_ok=True)
    for case in cases:
        print(f"{case.model_id} ({case.layers} layers{', ' + str(case.overrides) if case.overrides else ''})", flush=True)
        rec = measure_case(case, workdir, log=lambda msg: print(msg, flush=True))
        record["cases"] = [c for c in record["cases"] if c["model_id"] != case.model_id] + [rec]
        record["cases"].sort(key=lambda c: [x.model_id for x in CASES].index(c["model_id"]) if c["model_id"] in [x.model_id for x in CASES] else 99)
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    if args.probes:
        record["probes"] = []
        for name, case in PROBES:
            print(f"probe: {name}", flush=True)
            record["probes"].append(measure_probe(name, case, workdir))
            args.out.write_text(json.dumps(record, indent=1) + "\n")
    report(record)
    return 0


def report(record: dict[str, Any]) -> None:
    build = record.get("build", {})
    print(f"llama.cpp {build.get('llama_cpp_commit')} via llama-cpp-python {build.get('llama_cpp_python')} on {build.get('cpu')}"
          f" ({build.get('cpu_count')} threads); {build.get('system_info')}\n")
    rows = compare(record)
    print_table(rows)
    summary(rows)
    probes = compare_probes(record)
    if probes:
        print("\nProbes (reduced DeepSeek-V3, dense layers only, head count varied):")
        print_table(probes)


if __name__ == "__main__":
    raise SystemExit(main())
