"""sizer's llama.cpp memory rules against buffers llama.cpp itself allocated (../shared/SIZING.md §6).

``benchmarks/llamacpp_measured.json`` holds what ``benchmarks/llamacpp_measure.py`` recorded: synthetic
zero-weight GGUFs of catalog shapes (layers reduced, see that module), quantized by llama.cpp's own
quantizer and loaded on the CPU at several n_ctx / n_batch / n_ubatch / flash-attention / cache-type /
n_seq_max settings, with the llama.cpp commit that did it. The fast tests read that record and hold
sizer to it for the same reduced ModelEntry: KV cache within 0.5%, compute buffer within 10%, weights
within 1%. Disagreements still open are strict xfails naming the term and the llama.cpp mechanism, so
that they turn into failures the day sizer models them.

The slow test re-runs one case through llama.cpp (needs ``pip install llama-cpp-python``); it is kept
out of the default run: select it with ``-m slow``.
"""

from __future__ import annotations

import json

import pytest

from benchmarks import llamacpp_measure as lm
from sizer.catalog import get_model

MIB = 2**20
RECORD = json.loads(lm.RECORD_PATH.read_text())
CASES = {case["model_id"]: case for case in RECORD["cases"]}


def reduced(case: dict):
    overrides = {k: v for k, v in case["overrides"].items() if k != "num_layers"}
    return lm.reduced_model(lm.Case(case["model_id"], case["num_layers"], overrides=overrides), overrides)


def runs(*, modelled: bool = True):
    """(case, run) for every recorded llama.cpp context, as pytest params with readable ids."""
    params = []
    for case in RECORD["cases"]:
        for run in case["runs"]:
            if "error" in run or lm.sizer_models_layout(run["settings"]) != modelled:
                continue
            params.append(pytest.param(case, run, id=f"{case['model_id']}-{run['ftype']}-{lm.setting_label(run['settings'])}"))
    return params


def files():
    return [
        pytest.param(case, f, id=f"{case['model_id']}-{f['ftype']}")
        for case in RECORD["cases"]
        for f in case["files"]
        if "error" not in f
    ]


# --------------------------------------------------------------------------- the record itself


def test_record_names_the_llama_cpp_build_and_exact_settings():
    build = RECORD["build"]
    assert build["llama_cpp_commit"] not in ("", "unknown")
    assert build["llama_cpp_python"] and "CPU" in build["system_info"]
    keys = {"n_ctx", "n_batch", "n_ubatch", "n_seq_max", "kv_unified", "flash_attn", "type_k", "type_v"}
    for case in RECORD["cases"]:
        assert case["runs"], case["model_id"]
        for run in case["runs"]:
            assert keys <= set(run["settings"])
            assert "error" not in run, (case["model_id"], run.get("error"))


def test_record_covers_the_shapes_the_shared_records_lack():
    assert {"qwen2.5-7b-instruct", "phi-3-mini-4k-instruct", "gemma-3-4b-it", "gpt-oss-20b", "qwen3-30b-a3b", "deepseek-v3",
            "llama-3.1-8b-instruct"} <= set(CASES)


# --------------------------------------------------------------------------- weights


def _modelled(f: dict) -> bool:
    return not f.get("allow_requantize")


@pytest.mark.parametrize(("case", "f"), [p for p in files() if _modelled(p.values[1])])
def test_weights_equal_the_quantized_file(case, f):
    predicted = lm.sizer_weights(reduced(case), f["ftype"])
    assert predicted.total_bytes == pytest.approx(f["tensor_data_bytes"], rel=lm.WEIGHTS_TOLERANCE)
    # The mechanism, tensor by tensor: the type llama.cpp's quantizer chose is the one sizer predicts.
    chosen = {t.name: t.dtype for t in predicted.tensors}
    assert {name: chosen.get(name) for name in f["tensor_types"]} == f["tensor_types"]


@pytest.mark.parametrize(("case", "f"), [p for p in files() if not _modelled(p.values[1])])
def test_gpt_oss_experts_are_refused_by_stock_llama_quantize(case, f):
    """Stock llama-quantize will not requantize gpt-oss's MXFP4 experts into another file type; what
    --allow-requantize makes of them is not what sizer models, but every other tensor must still match."""
    assert f["stock_quantize_error"] == "requantizing from type mxfp4 is disabled"
    model = reduced(case)
    predicted = lm.sizer_weights(model, f["ftype"])
    kept = [t for t in predicted.tensors if lm.source_type_of(model, t.name) != "MXFP4"]
    assert {t.name: t.dtype for t in kept} == {t.name: f["tensor_types"][t.name] for t in kept}
    assert sum(t.bytes for t in kept) == sum(f["tensor_bytes"][t.name] for t in kept)


@pytest.mark.parametrize(("case", "f"), [p for p in files() if _modelled(p.values[1])])
def test_model_buffers_without_mmap_hold_exactly_the_weights(case, f):
    """CPU_REPACK moves tensors out of the CPU buffer, it adds nothing (with --no-mmap)."""
    loaded = sum(f["model_buffers_no_mmap_mib"].values()) * MIB
    assert loaded == pytest.approx(lm.sizer_weights(reduced(case), f["ftype"]).total_bytes, abs=len(f["model_buffers_no_mmap_mib"]) * lm.LOG_ROUNDING)


@pytest.mark.parametrize(("case", "f"), files())
def test_repack_buffer_follows_the_ggml_cpu_rule(case, f):
    """Not a sizer term yet: the CPU_REPACK size is the repack.cpp rule (see benchmarks/llamacpp_measure.py)."""
    shapes = {k: tuple(v) for k, v in f["tensor_shapes"].items()}
    rule = lm.repack_rule_bytes(f["tensor_types"], f["tensor_bytes"], shapes, avx512="AVX512 = 1" in RECORD["build"]["system_info"])
    measured = f["model_buffers_no_mmap_mib"].get("CPU_REPACK", 0.0) * MIB
    assert rule == pytest.approx(measured, abs=lm.LOG_ROUNDING)


# --------------------------------------------------------------------------- KV cache


@pytest.mark.parametrize(("case", "run"), runs())
def test_kv_cache_equals_the_allocated_buffer(case, run):
    predicted = lm.sizer_prediction(reduced(case), run["ftype"], run["settings"])
    assert predicted["kv_cache"] == pytest.approx(sum(run["kv_buffer_mib"]) * MIB, rel=lm.KV_TOLERANCE)


@pytest.mark.parametrize(("case", "run"), runs())
def test_kv_cells_equal_llama_cpp_cells(case, run):
    """Padded full-attention cells and (Gemma 3, gpt-oss) the sliding-window cache's cells, all streams."""
    cells = lm.sizer_cells(reduced(case), run["settings"])
    logged = [c["cells"] * c["streams"] for c in run["kv_caches"]]
    expected = [cells["full"], cells["swa"]] if len(logged) == 2 else [cells["full"]]
    assert logged == expected


def test_llama_3_1_8b_anchor_8192_tokens_are_1024_mib():
    case = CASES["llama-3.1-8b-instruct"]
    run = next(r for r in case["runs"] if r["settings"]["n_ctx"] == 8192 and r["settings"]["type_k"] == "f16")
    per_layer = sum(run["kv_buffer_mib"]) / case["num_layers"]
    assert per_layer * case["full_num_layers"] == 1024.0
    full = lm.sizer_prediction(get_model("llama-3.1-8b-instruct"), "Q4_K_M", run["settings"])
    assert full["kv_cache"] == 1024 * MIB


@pytest.mark.parametrize(("case", "run"), runs(modelled=False))
def test_unified_cache_with_several_slots_is_not_sizer_layout(case, run):
    """llama-server's default (-np auto: 4 slots, kv_unified) shares one SWA window of n_swa*4 + n_ubatch;
    sizer plans explicit --parallel N (one window per slot), which is the same for full-attention models."""
    s = run["settings"]
    model = reduced(case)
    cells = lm.sizer_cells(model, s)
    logged = [c["cells"] * c["streams"] for c in run["kv_caches"]]
    assert logged[0] == cells["full"]
    if len(logged) == 2:
        window = model.sliding_window
        unified_swa = min(cells["full"], -(-(window * s["n_seq_max"] + s["n_ubatch"]) // 256) * 256)
        assert logged[1] == unified_swa <= cells["swa"]


# --------------------------------------------------------------------------- compute and output buffers

#: Compute buffers sizer under-predicts by more than 10% at this build (see the report in
#: benchmarks/llamacpp_measure.py's output): strict xfails, so fixing the mechanism flips them.
COMPUTE_DISAGREEMENTS = {
    "phi-3-mini-4k-instruct": (
        {"c16384 ub512 fa", "c8192 ub256 fa b1024 q8_0/q8_0"},
        (
            "over-predicted (an upper bound): sizer always counts the n_ff block of Phi-3's fused gate+up FFN "
            "beside the logits; whether ggml-alloc can reuse a freed block for the logits depends on the mask "
            "and ubatch sizes, and at these two settings it can (measured = logits + 2*n_embd, +7 MiB at 16k)"
        ),
    ),
}


def _compute_params():
    params = []
    for p in runs():
        case, run = p.values
        label = lm.setting_label(run["settings"])
        known = COMPUTE_DISAGREEMENTS.get(case["model_id"])
        if known and label in known[0]:
            params.append(pytest.param(case, run, id=p.id, marks=pytest.mark.xfail(strict=True, reason=known[1])))
        else:
            params.append(p)
    return params


@pytest.mark.parametrize(("case", "run"), _compute_params())
def test_compute_buffer_within_ten_percent(case, run):
    predicted = lm.sizer_prediction(reduced(case), run["ftype"], run["settings"])
    measured = sum(run["compute_buffer_mib"].values()) * MIB
    assert predicted["compute"] == pytest.approx(measured, rel=lm.COMPUTE_TOLERANCE)


@pytest.mark.parametrize(("case", "run"), runs())
def test_output_buffer_is_one_row_of_logits_per_sequence(case, run):
    predicted = lm.sizer_prediction(reduced(case), run["ftype"], run["settings"])
    assert predicted["output_buffer"] == pytest.approx(run["output_buffer_mib"] * MIB, abs=lm.LOG_ROUNDING)


# --------------------------------------------------------------------------- slow: run llama.cpp again


@pytest.mark.slow
def test_llama_cpp_reproduces_the_record(request, tmp_path):
    """Re-measure the Llama-3.1-8B case (2 layers, about a minute) and hold sizer to the fresh figures."""
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("runs llama.cpp: select with -m slow")
    llama_cpp = pytest.importorskip("llama_cpp", reason="pip install llama-cpp-python")
    case = next(c for c in lm.CASES if c.model_id == "llama-3.1-8b-instruct")
    fresh = lm.measure_case(case, tmp_path, log=lambda _msg: None)
    model = lm.reduced_model(case)
    for f in fresh["files"]:
        assert lm.sizer_weights(model, f["ftype"]).total_bytes == pytest.approx(f["tensor_data_bytes"], rel=lm.WEIGHTS_TOLERANCE)
    assert fresh["runs"]
    for run in fresh["runs"]:
        assert "error" not in run, run
        predicted = lm.sizer_prediction(model, run["ftype"], run["settings"])
        assert predicted["kv_cache"] == pytest.approx(sum(run["kv_buffer_mib"]) * MIB, rel=lm.KV_TOLERANCE)
        assert predicted["compute"] == pytest.approx(sum(run["compute_buffer_mib"].values()) * MIB, rel=lm.COMPUTE_TOLERANCE)
    if llama_cpp.__version__ == RECORD["build"]["llama_cpp_python"]:
        recorded = {lm.setting_label(r["settings"]) + r["ftype"]: r for r in CASES[case.model_id]["runs"]}
        for run in fresh["runs"]:
            old = recorded[lm.setting_label(run["settings"]) + run["ftype"]]
            assert (run["kv_buffer_mib"], run["compute_buffer_mib"]) == (old["kv_buffer_mib"], old["compute_buffer_mib"])


# --------------------------------------------------------------------------- CPU repack


@pytest.mark.parametrize(("case", "f"), files())
def test_cpu_repack_term_matches_the_logged_cpu_repack_buffer(case, f):
    from sizer.engines.llamacpp import cpu_repack_bytes
    from sizer.estimate.api import ModelInput, weights_for

    if f.get("allow_requantize"):
        pytest.skip("made with --allow-requantize: not the mix sizer sizes")
    measured = f["model_buffers_no_mmap_mib"].get("CPU_REPACK", 0.0) * MIB
    weights = weights_for(ModelInput(reduced(case), "custom"), f["ftype"], "gguf")
    features = ["avx2", "avx512f"]  # the EPYC the record was measured on (benchmarks/llamacpp_measure.py)
    assert cpu_repack_bytes(weights, features, 1.0) == pytest.approx(measured, rel=0.005, abs=MIB)
