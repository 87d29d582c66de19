"""The quality cost of each quantization, from published measurements (data/quant_quality.json).

Perplexity deltas are only comparable on one model and one dataset, so the table says which; the
recommender quotes them ("Q4_K_M: +0.18 perplexity vs F16 on Llama-3-8B") and turns them into a
0..1 score with one documented curve, never a per-quant constant.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

from sizer.recommend.result import QuantQuality

# quality score = exp(-relative perplexity increase / RELATIVE_PPL_SCALE): relative deltas compare
# across the models the measurements were made on (Q4_K_M +2.8% on Llama-3-8B scores 0.70, AWQ
# +2.4% on Llama-2-7B 0.74, Q8_0 +0.04% 0.995, Q2_K +56% ~0).  Formats published only as benchmark
# accuracy recovery (FP8, GPTQ-INT8) score that recovery.
RELATIVE_PPL_SCALE = 0.08

# Names the engines use that the table files under another name.
ALIASES = {"f16": "F16", "bf16": "BF16", "fp16": "F16", "MXFP4_MOE": "MXFP4", "mxfp4": "MXFP4", "awq": "AWQ", "gptq": "GPTQ",
           "gptq-int8": "GPTQ-INT8", "fp8": "FP8", "int8": "INT8", "nf4": "NF4", "eetq": "INT8"}


class QualityEntry(BaseModel):
    """One published quality measurement of a quantization."""

    model_config = ConfigDict(extra="allow")

    quant: str
    format: Optional[str] = None
    bits_per_weight: Optional[float] = None
    ppl_delta: Optional[float] = None
    ppl_delta_relative: Optional[float] = None
    kld: Optional[float] = None
    same_top_p: Optional[float] = None
    accuracy_recovery: Optional[float] = Field(default=None, description="Quantized / 16-bit benchmark average, where only that is published.")
    model: Optional[str] = None
    dataset: Optional[str] = None
    source: str = Field(min_length=1)
    notes: Optional[str] = None


class QualityTable(BaseModel):
    """The contents of data/quant_quality.json."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = 1
    quants: list[QualityEntry]


@lru_cache(maxsize=1)
def _table() -> dict[str, QualityEntry]:
    from sizer.catalog import data_dir, load_validated

    table = load_validated(data_dir() / "quant_quality.json", QualityTable)
    return {entry.quant.upper(): entry for entry in table.quants}


def _entry(quant: str) -> Optional[QualityEntry]:
    name = ALIASES.get(quant, ALIASES.get(quant.lower(), quant)).upper()
    return _table().get(name)


def lookup(quant: str) -> Optional[QuantQuality]:
    """The published cost of `quant`, as a sentence with its source, or None when none is published."""
    entry = _entry(quant)
    if entry is None:
        return None
    if entry.ppl_delta == 0 and quant.upper() in ("BF16", "F16", "FP16"):
        summary = f"{quant}: the 16-bit reference, no quantization loss"
    elif entry.ppl_delta is not None:
        on = f" on {entry.model}" if entry.model else ""
        summary = f"{quant}: about {entry.ppl_delta:+.4g} perplexity vs 16-bit{on}"
    elif entry.kld is not None:
        summary = f"{quant}: KL divergence {entry.kld:.4g} vs 16-bit" + (f" on {entry.model}" if entry.model else "")
    else:
        summary = f"{quant}: " + (
            f"keeps {entry.accuracy_recovery:.1%} of the 16-bit benchmark average" + (f" on {entry.model}" if entry.model else "")
            if entry.accuracy_recovery is not None
            else "no published quality delta"
        )
    return QuantQuality(quant=quant, summary=summary, ppl_delta=entry.ppl_delta, kld=entry.kld, source=entry.source)


def score(quant: str) -> Optional[float]:
    """0..1, 1 = indistinguishable from 16-bit; None when nothing is published."""
    if quant.upper() in ("F16", "BF16", "F32", "FP16", "FP32"):
        return 1.0
    entry = _entry(quant)
    if entry is None:
        return None
    if entry.ppl_delta_relative is not None:
        return math.exp(-max(entry.ppl_delta_relative, 0.0) / RELATIVE_PPL_SCALE)
    if entry.accuracy_recovery is not None:
        return min(entry.accuracy_recovery, 1.0)
    return None
