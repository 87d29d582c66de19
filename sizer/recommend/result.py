"""What the recommender and the planner return (published as `sizer schema recommend` / `plan`).

Provisioning scripts read `options[*].backend`, `.quant`, `.fits`, `.placement`, `.memory`,
`.throughput.decode_tokens_per_s` and `rejected[*].reason`: these names are stable.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, Field

from sizer.estimate.result import MemoryBreakdown, Placement, Settings

Priority = Literal["quality", "balanced", "speed"]


class Workload(BaseModel):
    """What the deployment must serve."""

    ctx: int = Field(description="Context length per sequence, tokens.")
    users: int = Field(description="Concurrent users (sequences served at once).")
    prefer: Priority = "balanced"


class QuantQuality(BaseModel):
    """The published quality cost of a quantization."""

    quant: str
    summary: str = Field(description="e.g. 'Q4_K_M: +0.18 perplexity vs F16 on Llama-3-8B'.")
    ppl_delta: Optional[float] = None
    kld: Optional[float] = None
    source: Optional[str] = None


class OptionThroughput(BaseModel):
    """Expected speed of one option."""

    decode_tokens_per_s: Optional[float] = Field(default=None, description="One sequence, at the workload's context.")
    prefill_tokens_per_s: Optional[float] = None
    time_to_first_token_s: Optional[float] = None
    aggregate_tokens_per_s: Optional[float] = Field(default=None, description="All users together (batched serving).")
    per_user_tokens_per_s: Optional[float] = Field(default=None, description="Each of the workload's users.")


class Option(BaseModel):
    """One way to run a model here: engine, format, placement, settings, and why."""

    rank: int
    model: str = Field(description="Catalog id (or 'custom').")
    model_name: str
    params_b: float = Field(description="Parameters in billions (counted from the architecture).")
    group: str = Field(description="Size class: tiny (<2B), small (2-5B), medium (5-15B), large (15-40B), huge (>40B).")
    backend: str
    quant: str
    weights_format: str
    fits: bool
    placement: Placement
    settings: Settings
    memory: MemoryBreakdown
    headroom_bytes: Optional[int] = Field(default=None, description="Smallest free memory left on any device it uses.")
    throughput: OptionThroughput
    quality: Optional[QuantQuality] = None
    score: float = Field(description="Ranking score under the workload's priority (higher is better).")
    reasons: list[str]
    warnings: list[str] = Field(default_factory=list)


class Rejected(BaseModel):
    """A combination that was considered and dropped, with why."""

    model: str
    backend: str
    quant: Optional[str] = None
    reason: str


class Recommendation(BaseModel):
    """`sizer recommend`: ranked options for this hardware and workload, and what was rejected."""

    hardware: str
    workload: Workload
    options: list[Option]
    rejected: list[Rejected]
    notes: list[str] = Field(default_factory=list)


class Cost(BaseModel):
    """Owning the hardware against paying an API, per month."""

    hardware_price_usd: Optional[float] = None
    amortization_months: int
    power_w: Optional[float] = None
    electricity_usd_per_kwh: float
    utilization: float = Field(description="Fraction of the month the hardware is busy (power drawn at TDP).")
    monthly_own_usd: Optional[float] = None
    monthly_tokens: Optional[float] = None
    api_price_per_mtok: Optional[float] = None
    monthly_api_usd: Optional[float] = None
    break_even_tokens_per_month: Optional[float] = Field(default=None, description="Volume above which owning is cheaper.")
    capacity_tokens_per_month: Optional[float] = Field(default=None, description="What the hardware can generate at the workload.")
    notes: list[str] = Field(default_factory=list)


class HardwareOption(BaseModel):
    """`sizer plan`: one hardware configuration that runs the model at the load."""

    rank: int
    hardware: str = Field(description="A --hardware spec that names it, e.g. 2xrtx-4090@128.")
    name: str
    kind: str
    price_usd: Optional[float] = Field(default=None, description="Sum of the catalog's prices; null where unknown.")
    backend: str
    quant: str
    placement: Placement
    memory_total_bytes: int
    throughput: OptionThroughput
    meets_target: Optional[bool] = Field(default=None, description="Meets --tokens-per-s for each user (null if no target).")
    cost: Optional[Cost] = None
    reasons: list[str]


class HardwarePlan(BaseModel):
    """`sizer plan`: which catalog hardware runs this model at this load, ranked."""

    model: str
    workload: Workload
    tokens_per_s_target: Optional[float] = None
    options: list[HardwareOption]
    rejected: list[Rejected]
    notes: list[str] = Field(default_factory=list)
