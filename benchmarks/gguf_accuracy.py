"""How close sizer's GGUF file-size estimates come to published GGUF files.

Reads ``shared/ground_truth/models_and_gguf_sizes.json`` (``gguf_sizes`` rows), builds each row's model
with :func:`sizer.estimate.hf_config.model_entry_from_config` from the ground-truth ``config`` fields,
estimates the file with :func:`sizer.estimate.gguf_quant.gguf_weights`, and prints one line per row plus
median / worst relative error per quant type. Rows that cannot be checked against stock llama.cpp rules
(doubtful sizes, custom mixes, split uploads, unknown quant) are listed with the reason.

    python benchmarks/gguf_accuracy.py            # table of every row
    python benchmarks/gguf_accuracy.py --summary  # only the per-quant summary and exclusions

The row→model facts below are about the *published files*, not tuning: which base architecture a
fine-tune shares, which uploader used an importance matrix, which official files keep a separate
output tensor, which llama.cpp revision made the file (:data:`RULES_BY_REPO`). Each carries its reason.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sizer.errors import InvalidInputError
from sizer.estimate.gguf_quant import gguf_weights, parse_ftype
from sizer.estimate.hf_config import model_entry_from_config
from sizer.types import ModelEntry


def ground_truth_path() -> Path:
    """``$SIZER_GROUND_TRUTH`` or ``shared/ground_truth`` beside the repository."""
    env = os.environ.get("SIZER_GROUND_TRUTH")
    if env:
        return Path(env)
    for candidate in (REPO_ROOT.parent / "shared" / "ground_truth", Path("/work/shared/ground_truth")):
        if candidate.exists():
            return candidate
    return REPO_ROOT.parent / "shared" / "ground_truth"


def load_ground_truth() -> dict[str, Any]:
    return json.loads((ground_truth_path() / "models_and_gguf_sizes.json").read_text())


# --------------------------------------------------------------------------- row → model

#: Row labels naming a model by another's architecture: (ground-truth model id, config overrides, why).
MODEL_ALIASES: dict[str, tuple[str, dict[str, Any], str]] = {
    "Phi-3.5-mini (same dims as Phi-3-mini)": ("Phi-3-mini-4k", {}, "label: same dims"),
    "Qwen2.5-Coder-7B (Qwen2.5-7B architecture)": ("Qwen2.5-7B", {}, "label: same architecture"),
    "Qwen2.5-Coder-1.5B (Qwen2.5-1.5B architecture)": ("Qwen2.5-1.5B", {}, "label: same architecture"),
    "Qwen2.5-Coder-14B (Qwen2.5-14B architecture)": ("Qwen2.5-14B", {}, "label: same architecture"),
    "Llama-3-8B (same dims as Llama-3.1-8B)": ("Llama-3.1-8B", {}, "label: same dims"),
    "Mistral-7B-v0.1 (vocab 32000)": ("Mistral-7B-v0.3", {"vocab_size": 32000}, "v0.1/v0.2: vocab 32000"),
    "Mistral-7B-v0.2 (vocab 32000)": ("Mistral-7B-v0.3", {"vocab_size": 32000}, "v0.1/v0.2: vocab 32000"),
    "Qwen2-1.5B (same dims as Qwen2.5-1.5B)": ("Qwen2.5-1.5B", {}, "label: same dims"),
    "Qwen3-Coder-30B-A3B (same dims as Qwen3-30B-A3B per card)": ("Qwen3-30B-A3B", {}, "label: same dims"),
    # Qwen2.5-Math-1.5B base: same dims as Qwen2.5-1.5B but an untied output head (HF shows 1.78B params).
    "DeepSeek-R1-Distill-Qwen-1.5B": ("Qwen2.5-1.5B", {"tie_word_embeddings": False}, "Qwen2.5-Math-1.5B: untied head"),
    # The ground-truth config omits vocab_size; the distill keeps Qwen2.5-Math-7B's 152,064.
    "DeepSeek-R1-Distill-Qwen-7B": ("DeepSeek-R1-Distill-Qwen-7B", {"vocab_size": 152064}, "vocab of Qwen2.5-7B"),
    # gpt-oss config.json carries quantization_config.quant_method = mxfp4 (the experts ship MXFP4).
    "gpt-oss-120b": ("gpt-oss-120b", {"quantization_config": {"quant_method": "mxfp4"}}, "native MXFP4 experts"),
}

#: Mistral-Small-Instruct-2409 (22B) is not among the ground-truth models; its published config.json.
EXTRA_CONFIGS: dict[str, dict[str, Any]] = {
    "Mistral-Small-Instruct-2409 (22B; not the 24B model)": {
        "model_type": "mistral",
        "num_hidden_layers": 56,
        "hidden_size": 6144,
        "intermediate_size": 16384,
        "num_attention_heads": 48,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "vocab_size": 32768,
        "max_position_embeddings": 131072,
        "tie_word_embeddings": False,
    },
}

#: Uploaders that quantize with an importance matrix (changes IQ4_*/Q4_0/Q5_0 ffn_down and IQ3_XXS choices).
IMATRIX_UPLOADERS = ("bartowski/", "unsloth/", "lmstudio-community/")

#: Official Qwen GGUFs of tied-embedding models store a separate output tensor (ground-truth README;
#: their GGUF metadata parameter counts include a second vocab × hidden matrix).
SEPARATE_OUTPUT_REPOS = ("Qwen/Qwen2.5-1.5B-Instruct-GGUF", "Qwen/Qwen2.5-3B-Instruct-GGUF",
                         "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF")

#: Every published file here predates llama.cpp PR #19770 (2026), so unless RULES_BY_REPO says otherwise it
#: was made with the name-based rules (they differ from the current ones only for fused attn_qkv: Phi-3 /
#: Phi-3.5).
RULES = "name-based"

#: Uploads made by llama.cpp of December 2023, whose get_k_quant_type differed (rules="2023-12"): repo →
#: (rules, why). The dates come from the rows' sources (verbatim copies of the repos' READMEs).
#: The Mistral-7B-Instruct-v0.1 files (TheBloke's, gpt4all's Q4_0; the model came out in Sept. 2023) are
#: older still; no rules of that time are ported, and the name-based ones match those exact-byte rows
#: (Q4_K_S, Q6_K, Q4_0) to 0.001%, as the 2023-12 rules would (they agree above Q2_K for dense models).
_MIXTRAL_DEC_2023 = (
    "README: 'Support for Mixtral was merged into Llama.cpp on December 13th', files 'compatible with "
    "llama.cpp from December 13th onwards' (per-expert 2-D tensors of that converter)"
)
RULES_BY_REPO: dict[str, tuple[str, str]] = {
    "TheBloke/Mixtral-8x7B-v0.1-GGUF": ("2023-12", _MIXTRAL_DEC_2023),
    "TheBloke/Mixtral-8x7B-Instruct-v0.1-GGUF": ("2023-12", _MIXTRAL_DEC_2023),
    "TheBloke/Mistral-7B-Instruct-v0.2-GGUF": (
        "2023-12",
        (
            "the model came out with Mistral's 'La Plateforme' post of 11 Dec 2023 (its card's release link); "
            "TheBloke's README template is dated 'November 27th 2023'; the LM Studio byte rows are the same files"
        ),
    ),
}


def rules_for(row: dict[str, Any]) -> str:
    """The llama.cpp rules revision that made this row's file (see RULES_BY_REPO)."""
    return RULES_BY_REPO.get(row["repo"], (RULES, ""))[0]


#: File types llama.cpp no longer has (CPU repack variants of Q4_0).
REMOVED_FTYPES = ("Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8")
#: llama-quantize's aliases: Q4_K = Q4_K_M, Q5_K = Q5_K_M, Q3_K = Q3_K_M.
QUANTIZE_ALIASES = {"Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M", "Q3_K": "Q3_K_M", "FP16": "F16"}


def _model_entries(gt: dict[str, Any]) -> dict[str, tuple[ModelEntry, str]]:
    by_id = {m["id"]: m for m in gt["models"]}
    entries: dict[str, tuple[ModelEntry, str]] = {}

    def build(label: str, cfg: dict[str, Any], hf_repo: str) -> ModelEntry:
        slug = re.sub(r"[^a-z0-9.]+", "-", label.lower()).strip("-.")
        return model_entry_from_config(cfg, id=slug, name=label, hf_repo=hf_repo, source="ground truth")

    for model_id, model in by_id.items():
        if model_id in MODEL_ALIASES:
            continue  # its ground-truth config lacks a field; built below with the fill-in
        entries[model_id] = (build(model_id, dict(model["config"]), model["hf_repo"]), "")
    for label, (base, overrides, why) in MODEL_ALIASES.items():
        cfg = dict(by_id[base]["config"])
        if "text_config" in cfg:
            cfg["text_config"] = {**cfg["text_config"], **overrides}
        else:
            cfg.update(overrides)
        entries[label] = (build(label, cfg, by_id[base]["hf_repo"]), why)
    for label, cfg in EXTRA_CONFIGS.items():
        entries[label] = (build(label, cfg, "mistralai/Mistral-Small-Instruct-2409"), "config.json of the 22B")
    return entries


# --------------------------------------------------------------------------- rows

#: Published rows the stock rules (current, name-based or 2023-12) do not reproduce, each with the reason found.
KNOWN_DISAGREEMENTS = {
    "Phi-3-mini-4k-instruct-q4.gguf": "README figure 2.2 GB; the same mix's exact sizes (LM Studio 2,393,232,096 B, "
    "gpt4all Q4_0) agree with the estimate to 0.01%",
    "Phi-3-mini-4k-instruct-fp16.gguf": "README figure 7.2 GB; an F16 file of 3.82B parameters cannot be smaller than 7.64 GB",
}


UNIT_BYTES = {"GB": 1e9, "GiB": 2**30, "bytes": 1, "MiB": 2**20, "MB": 1e6}


@dataclass
class RowResult:
    row: dict[str, Any]
    status: str  # "checked", "split" or an exclusion reason
    quant: str | None = None
    published_bytes: float | None = None
    half_width: float = 0.0  # rounding of the published figure, bytes
    estimate_bytes: int | None = None
    rules: str = RULES  # llama.cpp rules revision the estimate used

    @property
    def rel_error(self) -> float:
        assert self.estimate_bytes is not None and self.published_bytes
        return self.estimate_bytes / self.published_bytes - 1

    @property
    def excess_error(self) -> float:
        """Relative distance beyond the published figure's rounding (0 when inside it)."""
        assert self.estimate_bytes is not None and self.published_bytes
        gap = abs(self.estimate_bytes - self.published_bytes) - self.half_width
        return max(0.0, gap) / self.published_bytes


def _published(row: dict[str, Any]) -> tuple[float | None, float]:
    unit = row["unit"]
    key = {"GB": "size_gb", "GiB": "size_gib", "bytes": "size_bytes", "MiB": "size_mib", "MB": "size_mb"}[unit]
    value = row.get(key)
    if value is None:
        return None, 0.0
    scale = UNIT_BYTES[unit]
    if unit == "bytes":
        return float(value), 0.0
    if "2 decimals" in (row.get("size_rounding") or ""):
        decimals = 2
    else:
        text = repr(float(value))
        decimals = max(1, len(text.split(".")[1])) if "." in text else 0
    return value * scale, 0.5 * 10**-decimals * scale


def _is_stock_ftype(quant: str) -> bool:
    try:
        parse_ftype(QUANTIZE_ALIASES.get(quant, quant))
    except InvalidInputError:
        return False
    return True


def classify(row: dict[str, Any]) -> str | None:
    """Why a row cannot be checked against stock llama.cpp rules, or None."""
    quant = str(row["quant"])
    if row.get("doubt"):
        return "doubt: " + row["doubt"][:60]
    if "ollama" in row["repo"]:
        return "Ollama tag: quant type not stated"
    if quant.startswith("UD-"):
        return "unsloth dynamic (UD) custom mix"
    if re.search(r"_(L|XL)$", quant) and not _is_stock_ftype(quant):
        return "custom mix (_L/_XL: Q8_0 embeddings/output)"
    if quant in REMOVED_FTYPES:
        return "removed file type (Q4_0 CPU repack)"
    return None


def evaluate(gt: dict[str, Any] | None = None) -> list[RowResult]:
    gt = gt or load_ground_truth()
    entries = _model_entries(gt)
    results = []
    for row in gt["gguf_sizes"]:
        reason = classify(row)
        published, half_width = _published(row)
        if reason is None and published is None:
            reason = "no size published"
        if reason is None and row["model"] not in entries:
            reason = "model not in ground truth"
        quant = QUANTIZE_ALIASES.get(row["quant"], row["quant"])
        if reason is None:
            try:
                parse_ftype(quant)
            except InvalidInputError:
                reason = "unknown quant type"
        if reason:
            results.append(RowResult(row, reason))
            continue
        model, _ = entries[row["model"]]
        weights = gguf_weights(
            model,
            quant,
            imatrix=True if row["repo"].startswith(IMATRIX_UPLOADERS) else None,
            separate_output=row["repo"] in SEPARATE_OUTPUT_REPOS,
            rules=rules_for(row),
        )
        status = "split" if row.get("split") else "checked"
        results.append(RowResult(row, status, quant, published, half_width, weights.file_bytes, weights.rules))
    return results


def summarize(results: list[RowResult]) -> dict[str, tuple[int, float, float]]:
    """Per quant type: (rows, median |error|, worst |error|) over checked rows."""
    by_quant: dict[str, list[float]] = {}
    for r in results:
        if r.status == "checked":
            by_quant.setdefault(r.quant or "", []).append(abs(r.rel_error))
    return {q: (len(v), statistics.median(v), max(v)) for q, v in sorted(by_quant.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", action="store_true", help="only the per-quant summary and exclusions")
    args = parser.parse_args(argv)
    results = evaluate()
    checked = [r for r in results if r.status == "checked"]
    if not args.summary:
        print(
            f"{'model':44} {'repo':42} {'quant':8} {'rules':10} {'published':>15} {'estimate':>15} {'error':>8} "
            f"{'beyond rounding':>15}"
        )
        for r in results:
            if r.status not in ("checked", "split"):
                continue
            tag = " (split)" if r.status == "split" else ""
            print(
                f"{r.row['model'][:44]:44} {r.row['repo'][:42]:42} {r.quant:8} {r.rules:10} {r.published_bytes:15,.0f} "
                f"{r.estimate_bytes:15,} {r.rel_error:+8.2%} {r.excess_error:15.2%}{tag}"
            )
        print()
    print(f"{'quant':10} {'rows':>5} {'median |err|':>13} {'worst |err|':>12}")
    for quant, (n, median, worst) in summarize(results).items():
        print(f"{quant:10} {n:5d} {median:13.3%} {worst:12.3%}")
    errors = [abs(r.rel_error) for r in checked]
    excess = [r.excess_error for r in checked]
    print(
        f"\nall {len(checked)} checked rows: median |err| {statistics.median(errors):.3%}, worst {max(errors):.3%}; "
        f"beyond the published rounding: median {statistics.median(excess):.3%}, worst {max(excess):.3%}"
    )
    split = [r for r in results if r.status == "split"]
    if split:
        listed = ", ".join(f"{r.row['file']} {r.rel_error:+.2%}" for r in split)
        print(f"split uploads (not in the statistics): {listed}")
    disagreeing = [r for r in checked if r.excess_error > 0.01]
    if disagreeing:
        print("\nrows more than 1% beyond the published rounding, and why:")
        for r in disagreeing:
            reason = KNOWN_DISAGREEMENTS.get(r.row["file"], "NOT EXPLAINED")
            print(f"  {r.row['file']} ({r.row['repo']}) {r.rel_error:+.2%}: {reason}")
        agreeing = [abs(r.rel_error) for r in checked if r.row["file"] not in KNOWN_DISAGREEMENTS]
        print(
            f"without them ({len(agreeing)} rows): median |err| {statistics.median(agreeing):.3%}, "
            f"worst {max(agreeing):.3%}"
        )
        precise = [
            abs(r.rel_error) for r in checked
            if r.row["file"] not in KNOWN_DISAGREEMENTS and r.half_width <= 0.005 * r.published_bytes
        ]
        coarse = [
            r for r in checked
            if r.row["file"] not in KNOWN_DISAGREEMENTS and r.half_width > 0.005 * r.published_bytes
        ]
        print(
            f"of which published to better than ±0.5% ({len(precise)} rows): median |err| "
            f"{statistics.median(precise):.3%}, worst {max(precise):.3%}; the {len(coarse)} coarser rows "
            f"(one-decimal GB/GiB) are judged by the distance beyond their rounding: worst "
            f"{max(r.excess_error for r in coarse):.3%}"
        )
    excluded: dict[str, list[str]] = {}
    for r in results:
        if r.status not in ("checked", "split"):
            excluded.setdefault(r.status, []).append(r.row["file"] or r.row["repo"])
    print(f"\nexcluded rows: {sum(len(v) for v in excluded.values())}")
    for reason, files in sorted(excluded.items()):
        print(f"  {len(files):3d}  {reason}: {', '.join(str(f) for f in files)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
