"""How close sizer's speed model comes to published llama-bench / vLLM measurements.

Reads ``shared/ground_truth/throughput.json``, maps each row to a sizer estimate (catalog model,
GGUF quant, ``NxHARDWARE`` spec, context, flash-attention setting of the run), predicts the row's
test — ``tgN`` (N tokens generated from an empty context: decode at mean depth N/2), ``ppN``
(prefill of N tokens), ``@dD`` (on top of D cached tokens) — and prints predicted vs published
for every row, then median / worst absolute % error per test kind and per device kind. Rows it
cannot map, and rows that are not comparable with what sizer models, are listed with the reason.

    python benchmarks/speed_accuracy.py             # every row, then the summary
    python benchmarks/speed_accuracy.py --summary   # summary, unmapped and excluded rows only
    python benchmarks/speed_accuracy.py --fit       # refit data/speed.json's constants (needs scipy)
    python benchmarks/speed_accuracy.py --fit --write

The mapping facts below are about the published runs (which model file, which build's defaults),
not tuning; each carries its reason.  tests/estimate/test_speed.py imports this module.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sizer.types import Cpu, Host, Machine, ModelEntry, SystemMemory  # noqa: E402

GIB = 2**30

#: Tolerances the issue sets (tests/estimate/test_speed.py asserts them).
MEDIAN_TOLERANCE_PCT = 15.0
WORST_TOLERANCE_PCT = 35.0


def ground_truth_path() -> Path:
    """``$SIZER_GROUND_TRUTH`` or ``shared/ground_truth`` beside the repository."""
    env = os.environ.get("SIZER_GROUND_TRUTH")
    if env:
        return Path(env)
    for candidate in (REPO_ROOT.parent / "shared" / "ground_truth", Path("/work/shared/ground_truth")):
        if candidate.exists():
            return candidate
    return REPO_ROOT.parent / "shared" / "ground_truth"


def load_rows() -> list[dict[str, Any]]:
    return json.loads((ground_truth_path() / "throughput.json").read_text())["rows"]


# --------------------------------------------------------------------------- row → model

#: Llama-2-7B is not in sizer's catalog; its shape from meta-llama/Llama-2-7b-hf config.json
#: (hidden 4096, 32 layers, 32 heads = 32 KV heads, FFN 11008, vocab 32000, 4096 positions, untied).
LLAMA2_7B = ModelEntry(
    id="llama-2-7b",
    name="Llama-2-7B",
    family="llama",
    hf_repo="meta-llama/Llama-2-7b-hf",
    architecture="llama",
    num_layers=32,
    hidden_size=4096,
    intermediate_size=11008,
    num_attention_heads=32,
    num_kv_heads=32,
    head_dim=128,
    vocab_size=32000,
    tie_word_embeddings=False,
    max_context=4096,
    torch_dtype="float16",
    params_total=6.74e9,
    source="https://huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json",
)

#: Ground-truth model label → catalog model (or an entry built above), and why that is the same file shape.
MODELS: dict[str, tuple[Union[str, ModelEntry], str]] = {
    "Meta-Llama-3-8B": ("llama-3.1-8b-instruct", "Llama 3 and 3.1 8B share every tensor shape (3.1 changes RoPE scaling and context)"),
    "Meta-Llama-3-70B": ("llama-3.1-70b-instruct", "Llama 3 and 3.1 70B share every tensor shape"),
    "Llama-3.1-8B": ("llama-3.1-8b-instruct", "same shapes as the instruct model"),
    "Llama-3.1-8B-Instruct": ("llama-3.1-8b-instruct", "catalog model"),
    "Llama-3.1-70B-Instruct": ("llama-3.1-70b-instruct", "catalog model"),
    "Llama-3.2-3B-Instruct": ("llama-3.2-3b-instruct", "catalog model"),
    'Llama-3-8B class ("llama 8B")': ("llama-3.1-8b-instruct", "llama-bench reports a llama 8B"),
    "Llama-2-7B": (LLAMA2_7B, "not in the catalog: built from its config.json"),
    'LLaMA-2-7B ("llama 7B", 6.74B)': (LLAMA2_7B, "not in the catalog: built from its config.json"),
    "gpt-oss-20b (ggml-org/gpt-oss-20b-GGUF)": ("gpt-oss-20b", "catalog model"),
    "gpt-oss-120b (ggml-org/gpt-oss-120b-GGUF)": ("gpt-oss-120b", "catalog model"),
    "Qwen3-Coder-30B-A3B-Instruct": ("qwen3-coder-30b-a3b-instruct", "catalog model"),
    "Qwen2.5-Coder-7B": ("qwen2.5-coder-7b-instruct", "same shapes as the instruct model"),
    "gemma-3-4b-it-qat": ("gemma-3-4b-it", "QAT weights, same shapes"),
    'Mistral-7B-Instruct-v0.2 ("llama 7B", 7.24B)': ("mistral-7b-instruct-v0.3", "v0.2 and v0.3 differ only in vocabulary size"),
}

#: Ground-truth quant label → (backend, sizer quant name).
QUANTS = {
    "Q4_K_M": ("llama.cpp", "Q4_K_M"),
    "Q4_0": ("llama.cpp", "Q4_0"),
    "Q8_0": ("llama.cpp", "Q8_0"),
    "F16": ("llama.cpp", "F16"),
    "MXFP4 (MoE)": ("llama.cpp", "MXFP4_MOE"),
    "BF16": ("vllm", "bf16"),
    "FP8 (E4M3 weights + FP8 KV cache)": ("vllm", "fp8"),
    "Q4_K_M (Ollama default tag; not printed)": ("ollama", "Q4_K_M"),
}

#: hardware_id of the ground truth → catalog id, where dropping the vendor prefix is not enough.
HARDWARE_IDS = {"nvidia-gb10-dgx-spark": "dgx-spark"}
_APPLE = re.compile(r"Apple (M\d)( Pro| Max| Ultra)? (\d+)-core GPU (\d+)GB")


def _custom_cpu(name: str, bandwidth: float, cores: int, features: list[str], ram_gb: int, why: str) -> tuple[Machine, str]:
    host = Host(
        cpu=Cpu(brand=name, physical_cores=cores, features=features),
        memory=SystemMemory(total_bytes=ram_gb * GIB, available_bytes=ram_gb * GIB, bandwidth_gb_s=bandwidth, bandwidth_source="user"),
    )
    return Machine(name=name, hosts=[host]), why


#: CPU-only rows whose machine is not a catalog entry but whose memory is stated: a Machine with those figures.
CPU_MACHINES: dict[str, tuple[Machine, str]] = {
    "2x AMD EPYC 9175F, 16x DDR5-6400 (dual socket, 8 ch/socket)": _custom_cpu(
        "2x EPYC 9175F", 16 * 6400 * 8 / 1000, 32, ["avx2", "avx512f"], 768, "16 channels x DDR5-6400 x 8 B = 819.2 GB/s; 2 x 16 Zen 5 cores"
    ),
    "Intel Core i5-4278U (2 threads), 8GB DDR3L-1600 (2014 MacBook Pro)": _custom_cpu(
        "Core i5-4278U", 2 * 1600 * 8 / 1000, 2, ["avx2"], 8, "2 channels x DDR3L-1600 x 8 B = 25.6 GB/s; Haswell (AVX2)"
    ),
}

#: CPU-only rows that run on a catalog platform.
CPU_PLATFORMS = {
    "AMD Ryzen AI Max+ 395 (Strix Halo, Radeon 8060S 40CU; 256 GB/s theoretical LPDDR5X-8000 256-bit, ~212 GB/s measured)": "ryzen-ai-max-395@128",
}

#: Rows that do not describe what sizer models, by row index, with the reason.
EXCLUDED_ROWS: dict[int, str] = {
    700: "vendor blog: 195 t/s for an 8 GB FP8 model on a 1008 GB/s RTX 4090 exceeds the bandwidth roofline (126 t/s)",
    702: "default NUMA placement on a dual-socket EPYC: the same report measures 80% more with --numa distribute (row 701)",
    86: (
        "4x RTX 3090 box, 70B Q4_K_M pp512 (301 t/s): a pp512 is one micro-batch that crosses the layer split stage after stage, "
        "so the GPU count adds only hidden-state hand-overs (~10 ms of a 1.7 s batch), yet the 2x and 6x RTX 3090 boxes measure "
        "357 and 457 t/s with the same file and test; the same invocation's pp1024 (row 87) did not pipeline, while this box's "
        "70B decode (17.1 t/s vs 16.6 / 17.1) and 8B prefill are in line: its sustained 70B prefill ran degraded"
    ),
}


def _excluded_by_rule(row: dict[str, Any]) -> Optional[str]:
    backend = row["backend"]
    if backend.startswith("Vulkan") or backend.startswith("ROCm"):
        return f"{backend} backend: sizer models llama.cpp's CUDA, Metal and CPU backends"
    if row["hardware_id"] == "nvidia-a100-sxm-80gb" and row["gpu_count"] == 4:
        return (
            "4x A100-SXM notebook: 15-35% slower than the 4x A100-PCIe notebook on every test despite more bandwidth "
            "and NVLink, and its 8B F16 prefill runs at 1/10 of the PCIe box's: a degraded node, not the part"
        )
    if row["hardware_id"] == "apple-m1":
        return "M1 with 8 GB: the 4.9 GB model exceeds the GPU working set (~5.3 GB) with its cache; rows are non-monotonic and two exceed the roofline (tg8192 1133 t/s)"
    return None


@dataclass
class Case:
    """One row as sizer will predict it."""

    index: int
    row: dict[str, Any]
    test: str  # "tg" or "pp"
    tokens: int
    depth: int
    model: Union[str, ModelEntry]
    backend: str
    quant: str
    hardware: Union[str, Machine]
    ctx: int
    flash_attn: Optional[bool]
    n_ubatch: Optional[int]
    threads: Optional[int]
    observed: float
    notes: list[str] = field(default_factory=list)


@dataclass
class Skip:
    index: int
    row: dict[str, Any]
    reason: str
    excluded: bool  # True: not comparable (reported); False: cannot be mapped


_TEST = re.compile(r"^(pp|tg)(\d+)(?:@d(\d+))?$")


def _parse_test(test: str, row: dict[str, Any]) -> Optional[tuple[str, int, int]]:
    match = _TEST.match(test)
    if match:
        return match[1], int(match[2]), int(match[3] or 0)
    if test == "tg (llama-bench, -p 0)":
        return "tg", 128, 0  # llama-bench's default -n 128
    if test.startswith("decode tok/s at concurrency 1") and "1024 input / 128 output" in (row["settings"] or ""):
        return "tg", 128, 1024
    return None


def _hardware(row: dict[str, Any]) -> tuple[Optional[Union[str, Machine]], str]:
    hardware_id = row["hardware_id"]
    label = row["hardware"] or ""
    if hardware_id is None:
        if label in CPU_MACHINES:
            return CPU_MACHINES[label][0], CPU_MACHINES[label][1]
        if label in CPU_PLATFORMS and row["backend"] == "CPU":
            return CPU_PLATFORMS[label], "catalog CPU platform"
        return None, f"hardware '{label}' is not in the catalog and its memory bandwidth is not stated"
    if hardware_id.startswith("apple-"):
        match = _APPLE.search(label)
        if not match:
            return None, f"cannot read the Apple chip variant from '{label}'"
        chip, tier, cores, gb = match.groups()
        slug = chip.lower() + (f"-{tier.strip().lower()}" if tier else "") + f"-{cores}c"
        return f"{slug}@{gb}", "Apple chip by GPU cores"
    slug = HARDWARE_IDS.get(hardware_id) or re.sub(r"^(nvidia|amd)-", "", hardware_id)
    count = row["gpu_count"] or 1
    return (f"{count}x{slug}" if count > 1 else slug), "catalog id"


#: llama.cpp builds before this number launch every decode kernel from the CPU (CUDA graphs arrived in
#: b2860-ish, PR #6766, and kept widening since; fused kernels followed). sizer's constants describe current
#: builds; the fit scales the per-layer overhead of older CUDA rows by one fitted factor.
LEGACY_BUILD_BEFORE = 3000
_BUILD_NUMBER = re.compile(r"\((\d+)\)")


def is_legacy_build(row: dict[str, Any]) -> bool:
    match = _BUILD_NUMBER.search(row.get("build") or "")
    return bool(match) and int(match[1]) < LEGACY_BUILD_BEFORE


def _flash_attn(row: dict[str, Any]) -> Optional[bool]:
    settings = row["settings"] or ""
    if "-fa 1" in settings:
        return True
    if "-fa 0" in settings:
        return False
    if "XiongjieDai" in row["source"]:
        return False  # llama-bench builds of May 2024 (b2795-b2843) default to -fa 0; FA landed off by default in b2749
    return None


def _series_anomalies(rows: list[dict[str, Any]]) -> dict[int, str]:
    """Prefill series on one GPU whose rate rises with prompt length: not in steady state, not comparable.

    A longer prompt only adds attention work, so tokens/s must fall; a rising series means a
    fallback kernel or clocks still ramping.  The multi-GPU rows of the same hardware, model and
    file go with it (same notebook family, same build).
    """
    series: dict[tuple, list[tuple[int, int, float]]] = {}
    for i, row in enumerate(rows):
        parsed = _TEST.match(row["test"])
        if not parsed or parsed[1] != "pp" or parsed[3] or row["backend"] != "CUDA":
            continue
        key = (row["hardware_id"], row["model"], row["quant"], row["build"])
        series.setdefault(key, []).append((i, int(parsed[2]), row["tokens_per_s"]))
    flagged: dict[int, str] = {}
    bad_keys = set()
    for key, points in series.items():
        single = [p for p in points if (rows[p[0]]["gpu_count"] or 1) == 1]
        if len(single) >= 3:
            single.sort(key=lambda p: p[1])
            if single[-1][2] > single[0][2]:
                bad_keys.add(key)
                for i, _, _ in single:
                    flagged[i] = f"prefill rises with prompt length on one GPU ({single[0][2]:.0f} -> {single[-1][2]:.0f} t/s): not steady state"
    for key, points in series.items():
        if key in bad_keys:
            for i, _, _ in points:
                if i not in flagged:
                    flagged[i] = "multi-GPU prefill of a model/file whose single-GPU prefill series is anomalous (same build)"
    return flagged


#: A pp1024 run that shows less than this share of the pipelining gain did not pipeline.
PIPELINE_SHARE_MIN = 1 / 3


def _unpipelined(rows: list[dict[str, Any]]) -> dict[int, str]:
    """Multi-GPU pp1024 rows whose run did not overlap its two micro-batches.

    With a layer split over S GPUs, llama.cpp pipelines the micro-batches of one batch, so pp1024
    (two 512-token micro-batches) should run up to 2S/(S+1) times faster than pp512.  Where the
    published pair shows less than half of that gain, the run did not pipeline (the same machines
    do with 8B and F16 70B models); sizer assumes it does.
    """
    pairs: dict[tuple, dict[int, tuple[int, float]]] = {}
    for i, row in enumerate(rows):
        count = row["gpu_count"] or 1
        if count < 2 or row["test"] not in ("pp512", "pp1024"):
            continue
        key = (row["hardware_id"], count, row["model"], row["quant"], row["build"])
        pairs.setdefault(key, {})[int(row["test"][2:])] = (i, row["tokens_per_s"])
    achieved: dict[tuple, float] = {}
    for key, tests in pairs.items():
        if 512 in tests and 1024 in tests:
            perfect = 2 * key[1] / (key[1] + 1)
            achieved[key] = (tests[1024][1] / tests[512][1] - 1) / (perfect - 1)
    flagged = {}
    for key, share in achieved.items():
        if share < PIPELINE_SHARE_MIN:
            best = max(v for k, v in achieved.items() if k[:2] == key[:2])
            flagged[pairs[key][1024][0]] = (
                f"did not pipeline: pp1024 gained {share:.0%} of what overlapping its two micro-batches on {key[1]} GPUs "
                f"gives (best on the same machine: {best:.0%})"
            )
    return flagged


#: Published F16/Q4_K_M prefill ratios on the same machine, model, test and build (2024 builds):
#: 82 of 95 pairs run 1.03-3.4 (1-8 GPUs, 8B and 70B); the 13 below 1 are the A100-SXM and L40S
#: notebooks excluded above as anomalous, and the 4x RTX 5000 Ada 8B F16 runs.
F16_OVER_QUANTIZED_MIN = 1.0


def _f16_slower_than_quantized(rows: list[dict[str, Any]]) -> dict[int, str]:
    """F16 prefill rows slower than the same machine's Q4_K_M prefill of the same model, test and build.

    In these builds a quantized prefill runs the same cuBLAS FP16 GEMMs as F16 after dequantizing
    its weights to F16 first, so it does strictly more work: every other pair in the ground truth
    has F16 ahead (1.03-3.4x).  An F16 run that trails its own machine's Q4_K_M run measured
    something other than the steady state sizer models (throttled or contended GPUs, a fallback path).
    """
    pairs: dict[tuple, dict[str, tuple[int, float]]] = {}
    for i, row in enumerate(rows):
        test = _TEST.match(row["test"])
        if not test or test[1] != "pp" or row["backend"] != "CUDA" or not is_legacy_build(row):
            continue
        key = (row["hardware_id"], row["gpu_count"] or 1, row["model"], row["test"], row["build"])
        pairs.setdefault(key, {})[row["quant"]] = (i, row["tokens_per_s"])
    flagged = {}
    for key, quants in pairs.items():
        if "F16" in quants and "Q4_K_M" in quants:
            (index, f16), (_, q4) = quants["F16"], quants["Q4_K_M"]
            if f16 < F16_OVER_QUANTIZED_MIN * q4:
                flagged[index] = (
                    f"F16 prefill ({f16:.0f} t/s) slower than the same machine's Q4_K_M prefill of the model ({q4:.0f} t/s, same test and build), "
                    "which runs the same FP16 GEMMs after dequantizing: 82 other pairs have F16 ahead by 1.03-3.4x, so this run is not steady state"
                )
    return flagged


def _mmq_prefill(row: dict[str, Any]) -> Optional[str]:
    """Quantized prefill in current CUDA builds runs on int8 tensor cores (MMQ), not dequantize + FP16 GEMM."""
    test = _TEST.match(row["test"])
    if test and test[1] == "pp" and row["backend"] == "CUDA" and row["quant"] not in ("F16", "BF16") and not is_legacy_build(row):
        return (
            "quantized prefill in builds since b3091 (June 2024, PR #7676) runs on int8 tensor cores (MMQ); "
            "the catalog has no int8 rates, and sizer's prefill follows the dequantize + FP16 GEMM path of the 2024 rows"
        )
    return None


def map_rows(rows: Optional[list[dict[str, Any]]] = None) -> tuple[list[Case], list[Skip]]:
    """Every ground-truth row as a Case to predict, or a Skip with its reason."""
    rows = rows if rows is not None else load_rows()
    anomalies = _series_anomalies(rows)
    anomalies.update({i: why for i, why in _unpipelined(rows).items() if i not in anomalies})
    anomalies.update({i: why for i, why in _f16_slower_than_quantized(rows).items() if i not in anomalies})
    cases: list[Case] = []
    skips: list[Skip] = []
    for index, row in enumerate(rows):
        reason = EXCLUDED_ROWS.get(index) or _excluded_by_rule(row) or anomalies.get(index) or _mmq_prefill(row)
        if reason:
            skips.append(Skip(index, row, reason, True))
            continue
        parsed = _parse_test(row["test"], row)
        if parsed is None:
            skips.append(Skip(index, row, f"test '{row['test']}' has no token count sizer can reproduce", False))
            continue
        test, tokens, depth = parsed
        model = MODELS.get(row["model"])
        if model is None:
            skips.append(Skip(index, row, f"model '{row['model']}' not mapped", False))
            continue
        quant = QUANTS.get(row["quant"])
        if quant is None:
            skips.append(Skip(index, row, f"quant '{row['quant']}' not mapped", False))
            continue
        hardware, why = _hardware(row)
        if hardware is None:
            skips.append(Skip(index, row, why, False))
            continue
        settings = row["settings"] or ""
        ubatch = re.search(r"-ub (\d+)", settings)
        threads = re.search(r"-t (\d+)", settings)
        cases.append(
            Case(
                index=index,
                row=row,
                test=test,
                tokens=tokens,
                depth=depth,
                model=model[0],
                backend=quant[0],
                quant=quant[1],
                hardware=hardware,
                ctx=tokens + depth,
                flash_attn=_flash_attn(row),
                n_ubatch=int(ubatch[1]) if ubatch else None,
                threads=int(threads[1]) if threads else None,
                observed=float(row["tokens_per_s"]),
                notes=[model[1], why],
            )
        )
    return cases, skips


# --------------------------------------------------------------------------- predictions


@dataclass
class Prepared:
    """A case with its estimate and speed plan, so that predictions can be re-run with other constants."""

    case: Case
    plan: Any
    kind: str
    error: Optional[str] = None
    legacy: bool = False  # a llama.cpp build from before CUDA graphs and fused decode kernels matured


def prepare(case: Case, constants: Optional[dict[str, Any]] = None) -> Prepared:
    """Run sizer's estimate for the row's configuration and resolve its speed plan."""
    from sizer.errors import SizerError
    from sizer.estimate.api import estimate, resolve_model, weights_for
    from sizer.estimate.speed import build_plan
    from sizer.hardware_spec import parse_hardware_spec

    machine = case.hardware if isinstance(case.hardware, Machine) else parse_hardware_spec(case.hardware)
    if case.threads:
        machine = machine.model_copy(deep=True)
        for host in machine.hosts:
            host.cpu.physical_cores = min(host.cpu.physical_cores or case.threads, case.threads)
    if isinstance(case.model, ModelEntry):
        # Not a catalog model: hand it over as a parsed config, not as a catalog id.
        from sizer.estimate.api import ModelInput

        model_input = ModelInput(case.model, "config.json")
    else:
        model_input = resolve_model(case.model)
    entry = model_input.entry
    try:
        from sizer.engines.base import get_engine

        gpu_layers = entry.num_layers + 1 if case.backend == "llama.cpp" and any(h.accelerators for h in machine.hosts) else None
        result = estimate(
            model_input,
            quant=case.quant,
            backend=case.backend,
            hardware=machine,
            ctx=case.ctx,
            flash_attn=case.flash_attn,
            n_ubatch=case.n_ubatch,
            n_batch=max(case.n_ubatch or 0, 2048) if case.backend == "llama.cpp" else None,
            gpu_layers=gpu_layers,
            prompt_tokens=max(case.tokens if case.test == "pp" else case.depth + case.tokens // 2, 1),
        )
        weights = weights_for(model_input, result.quant, get_engine(case.backend).weights_format)
    except (SizerError, ImportError) as exc:
        return Prepared(case, None, "?", error=f"{type(exc).__name__}: {exc}")
    plan = build_plan(result, entry, weights, machine, constants)
    kinds = [s.kind for s in plan.stages if s.layers]
    return Prepared(case, plan, kinds[-1] if kinds else "?", legacy=is_legacy_build(case.row))


def predict(prepared: Prepared, constants: Optional[dict[str, Any]] = None) -> Optional[float]:
    """Predicted tokens/s for the row's test (None where sizer gives no figure)."""
    from sizer.estimate.speed import decode_step_seconds, prefill_seconds

    if prepared.plan is None:
        return None
    plan = prepared.plan
    if constants is not None:
        plan.constants = constants
    if prepared.legacy and plan.engine == "llama.cpp":
        plan.launch_scale = plan.constants["engines"]["llama.cpp"]["decode_shared"]["legacy_build_launch_factor"]
    case = prepared.case
    if case.test == "tg":
        # Generating N tokens from depth D: time per token is linear in depth, so the mean rate is
        # the rate at the mean depth D + N/2.
        return 1.0 / decode_step_seconds(plan, depth=case.depth + case.tokens / 2)
    seconds = prefill_seconds(plan, case.tokens, depth=case.depth)
    return case.tokens / seconds if seconds else None


def error_pct(predicted: float, observed: float) -> float:
    return (predicted - observed) / observed * 100


@dataclass
class Result:
    prepared: Prepared
    predicted: Optional[float]

    @property
    def case(self) -> Case:
        return self.prepared.case

    @property
    def error(self) -> Optional[float]:
        return error_pct(self.predicted, self.case.observed) if self.predicted else None


def evaluate(constants: Optional[dict[str, Any]] = None) -> tuple[list[Result], list[Skip]]:
    cases, skips = map_rows()
    results = []
    for case in cases:
        prepared = prepare(case, constants)
        results.append(Result(prepared, predict(prepared, constants)))
    return results, skips


def summarize(results: list[Result]) -> dict[tuple[str, str], tuple[int, float, float]]:
    """(test kind, device kind or 'all') → (rows, median |error| %, worst |error| %) over predicted rows."""
    groups: dict[tuple[str, str], list[float]] = {}
    for r in results:
        if r.error is None:
            continue
        for key in ((r.case.test, "all"), (r.case.test, r.prepared.kind), ("all", "all")):
            groups.setdefault(key, []).append(abs(r.error))
    return {k: (len(v), statistics.median(v), max(v)) for k, v in sorted(groups.items())}


# --------------------------------------------------------------------------- fitting


#: Free parameters of the fit: (path in data/speed.json, lower, upper).  Every kind's efficiency and
#: per-layer overhead; the shared hop costs; the CPU per-core rates with data behind them.
def fit_parameters(constants: dict[str, Any]) -> list[tuple[tuple[str, ...], float, float]]:
    params: list[tuple[tuple[str, ...], float, float]] = []
    for kind, values in constants["engines"]["llama.cpp"]["decode"].items():
        if values.get("fit", {}).get("fixed"):
            continue
        params.append((("engines", "llama.cpp", "decode", kind, "bandwidth_efficiency"), 0.2, 1.0))
        params.append((("engines", "llama.cpp", "decode", kind, "layer_overhead_us"), 0.0, 1000.0))
    params.append((("engines", "llama.cpp", "decode_shared", "device_hop_us"), 0.0, 2000.0))
    params.append((("engines", "llama.cpp", "decode_shared", "legacy_build_launch_factor"), 1.0, 20.0))
    for kind in ("nvidia-hbm", "nvidia-gddr", "apple"):
        params.append((("engines", "llama.cpp", "decode", kind, "attention_kv_factor"), 0.0, 3.0))
    params.append((("engines", "vllm", "decode", "default", "bandwidth_efficiency"), 0.2, 1.0))
    params.append((("engines", "llama.cpp", "decode", "apple", "dequant_gweights_per_core"), 1.0, 100.0))
    for kind, values in constants["engines"]["llama.cpp"]["prefill"].items():
        if values.get("fit", {}).get("fixed"):
            continue
        params.append((("engines", "llama.cpp", "prefill", kind, "compute_efficiency"), 0.05, 1.0))
    params.append((("engines", "llama.cpp", "prefill_shared", "hop_gb_s"), 0.5, 64.0))
    params.append((("engines", "llama.cpp", "prefill_shared", "pipeline_overlap"), 0.0, 1.0))
    # Achieved TFLOPS per watt of each chip generation whose boards the data show power-limited
    # (a null value: no row binds, e.g. GA100; generations without rows follow generation_fallbacks).
    for generation, values in constants["power"]["tensor_fp16_tflops_per_watt"].items():
        if values.get("value") is not None and not values.get("fixed"):
            params.append((("power", "tensor_fp16_tflops_per_watt", generation, "value"), 0.05, 3.0))
    for isa in ("avx2", "avx512"):
        params.append((("cpu", "gops_per_core", isa, "value"), 5.0, 2000.0))
    return params


def _get(tree: dict[str, Any], path: tuple[str, ...]) -> float:
    for key in path[:-1]:
        tree = tree[key]
    return tree[path[-1]]


def _set(tree: dict[str, Any], path: tuple[str, ...], value: float) -> None:
    for key in path[:-1]:
        tree = tree[key]
    tree[path[-1]] = value


def fit(write: bool = False, out: Optional[Path] = None) -> None:
    """Least squares on log(predicted/observed) over every usable row; prints (and writes) the result."""
    import copy

    import numpy as np
    from scipy.optimize import least_squares

    from sizer.estimate.speed import load_constants

    constants = copy.deepcopy(load_constants())
    cases, _ = map_rows()
    prepared = [prepare(c, constants) for c in cases]
    prepared = [p for p in prepared if p.plan is not None]
    params = fit_parameters(constants)
    x0 = np.array([min(max(_get(constants, p), lo), hi) for p, lo, hi in params])

    def residuals(x: np.ndarray) -> np.ndarray:
        for (path, _, _), value in zip(params, x):
            _set(constants, path, float(value))
        out = []
        for p in prepared:
            value = predict(p, constants)
            out.append(math.log(value / p.case.observed) if value else 0.0)
        return np.array(out)

    solution = least_squares(residuals, x0, bounds=([lo for _, lo, _ in params], [hi for _, _, hi in params]), loss="linear")
    for (path, _, _), value in zip(params, solution.x):
        _set(constants, path, round(float(value), 4))
    for (path, _, _), value in zip(params, solution.x):
        print(f"{'.'.join(path):70s} {value:10.4f}")
    results = [Result(p, predict(p, constants)) for p in prepared]
    _record_fits(constants, results)
    print_summary(results)
    if write or out:
        from sizer.catalog import data_dir

        path = out or Path(data_dir()) / "speed.json"
        path.write_text(json.dumps(constants, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}")


def _record_fits(constants: dict[str, Any], results: list[Result]) -> None:
    """Write each fitted group's rows and errors beside its constants, and the overall summary."""
    for phase, test in (("decode", "tg"), ("prefill", "pp")):
        for kind, values in constants["engines"]["llama.cpp"][phase].items():
            errors = [abs(r.error) for r in results if r.error is not None and r.case.test == test and r.prepared.kind == kind and r.case.backend == "llama.cpp"]
            fit_info = values.setdefault("fit", {})
            if fit_info.get("fixed") or not errors:
                continue
            fit_info.update(
                rows=len(errors),
                median_abs_error_pct=round(statistics.median(errors), 1),
                worst_abs_error_pct=round(max(errors), 1),
                source=FIT_SOURCE,
            )
    _record_power_fits(constants, results)
    vllm = [abs(r.error) for r in results if r.error is not None and r.case.backend == "vllm"]
    if vllm:
        constants["engines"]["vllm"]["decode"]["default"]["fit"].update(
            rows=len(vllm), median_abs_error_pct=round(statistics.median(vllm), 1), worst_abs_error_pct=round(max(vllm), 1)
        )
    _, skips = map_rows()
    constants["fit_summary"] = {
        "method": "scipy.optimize.least_squares on log(predicted / published) over every predicted row, all constants at once",
        "source": FIT_SOURCE,
        "rows_predicted": sum(1 for r in results if r.error is not None),
        "rows_excluded": sum(1 for s in skips if s.excluded),
        "rows_unmapped": sum(1 for s in skips if not s.excluded),
        "abs_error_pct": {f"{test}/{kind}": {"rows": n, "median": round(median, 1), "worst": round(worst, 1)} for (test, kind), (n, median, worst) in summarize(results).items()},
    }


def _record_power_fits(constants: dict[str, Any], results: list[Result]) -> None:
    """Beside each chip generation's TFLOPS per watt: its prefill rows, how many the power cap binds, their errors."""
    from sizer.estimate.speed import achieved_tflops, kind_constants, tflops_per_watt

    table = constants["power"]["tensor_fp16_tflops_per_watt"]
    for generation, values in table.items():
        rows, binding, errors, devices = 0, 0, [], set()
        for r in results:
            if r.error is None or r.case.test != "pp" or r.prepared.plan is None:
                continue
            stages = [s for s in r.prepared.plan.stages if s.power_key == generation and s.tflops]
            if not stages:
                continue
            rows += 1
            errors.append(abs(r.error))
            hardware = r.case.hardware if isinstance(r.case.hardware, str) else r.case.hardware.name
            devices.add(re.sub(r"^\d+x", "", hardware))
            for stage in stages:
                kind = stage.offload_kind or stage.kind
                eta = kind_constants(constants, r.prepared.plan.engine, "prefill", kind)[0]["compute_efficiency"]
                unlimited = achieved_tflops(stage.tflops, eta, None, None)
                limited = achieved_tflops(stage.tflops, eta, stage.tdp_w, tflops_per_watt(constants, generation), stage.fp16_equivalent)
                if limited < unlimited:
                    binding += 1
                    break
        if not rows:
            continue
        fit_info = values.setdefault("fit", {})
        fit_info.update(
            rows=rows,
            rows_power_limited=binding,
            median_abs_error_pct=round(statistics.median(errors), 1),
            worst_abs_error_pct=round(max(errors), 1),
            devices=", ".join(sorted(devices)),
            source=FIT_SOURCE,
        )


FIT_SOURCE = "shared/ground_truth/throughput.json, rows mapped by benchmarks/speed_accuracy.py (python benchmarks/speed_accuracy.py --fit --write)"


# --------------------------------------------------------------------------- output


def _describe(case: Case) -> str:
    hardware = case.hardware if isinstance(case.hardware, str) else case.hardware.name
    model = case.model if isinstance(case.model, str) else case.model.id
    test = f"{case.test}{case.tokens}" + (f"@d{case.depth}" if case.depth else "")
    return f"{hardware:22s} {model:28s} {case.quant:9s} {test:13s}"


def print_summary(results: list[Result]) -> None:
    print("\nabsolute % error: rows, median, worst")
    for (test, kind), (n, median, worst) in summarize(results).items():
        print(f"  {test:4s} {kind:20s} {n:4d} rows  median {median:5.1f}%  worst {worst:5.1f}%")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", action="store_true", help="only the summary, unmapped and excluded rows")
    parser.add_argument("--fit", action="store_true", help="refit the constants of data/speed.json (needs scipy)")
    parser.add_argument("--write", action="store_true", help="with --fit: write the fitted constants to data/speed.json")
    parser.add_argument("--out", type=Path, help="with --fit: write the fitted constants here instead")
    parser.add_argument("--constants", type=Path, help="evaluate with these constants instead of data/speed.json")
    args = parser.parse_args(argv)
    if args.fit:
        fit(write=args.write, out=args.out)
        return 0
    constants = json.loads(args.constants.read_text()) if args.constants else None
    results, skips = evaluate(constants)
    if not args.summary:
        print(f"{'row':>4} {'hardware':22s} {'model':28s} {'quant':9s} {'test':13s} {'kind':18s} {'published':>10} {'sizer':>10} {'error':>8}")
        for r in results:
            predicted = f"{r.predicted:10.2f}" if r.predicted else "      none"
            error = f"{r.error:+7.1f}%" if r.error is not None else (r.prepared.error or "no figure")
            print(f"{r.case.index:4d} {_describe(r.case)} {r.prepared.kind:18s} {r.case.observed:10.2f} {predicted} {error}")
    print_summary(results)
    no_figure = [r for r in results if r.predicted is None]
    unmapped = [s for s in skips if not s.excluded]
    excluded = [s for s in skips if s.excluded]
    print(f"\n{len(results) - len(no_figure)} rows predicted; {len(no_figure)} mapped without a figure; {len(unmapped)} unmapped; {len(excluded)} excluded")
    reasons: dict[str, list[int]] = {}
    for r in no_figure:
        why = r.prepared.error or "; ".join(r.prepared.plan.prefill_missing) if r.prepared.plan else r.prepared.error
        reasons.setdefault(f"no figure: {why}", []).append(r.case.index)
    for s in unmapped:
        reasons.setdefault(f"unmapped: {s.reason}", []).append(s.index)
    for s in excluded:
        reasons.setdefault(f"excluded: {s.reason}", []).append(s.index)
    for why, indexes in reasons.items():
        shown = ", ".join(str(i) for i in indexes[:12]) + (" …" if len(indexes) > 12 else "")
        print(f"  {len(indexes):3d} rows  {why}  [rows {shown}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
