"""Reverse sizing (`sizer plan`): which catalog hardware runs a model at a load, and what it costs.

Each configuration is a machine built from the catalog (1-8 identical GPUs, two 8-GPU nodes, an
Apple chip at each memory size it is sold with, a CPU platform with enough RAM) and is judged by
the same recommender that `sizer recommend` uses: nothing here sizes memory itself.
"""

from __future__ import annotations

from typing import Optional

from sizer.catalog import hardware_entries
from sizer.errors import InvalidInputError
from sizer.estimate.api import resolve_model, weights_for
from sizer.hardware_spec import parse_hardware_spec
from sizer.recommend import recommend
from sizer.recommend.result import Cost, HardwareOption, HardwarePlan, Option, Rejected, Workload
from sizer.types import HardwareEntry

GIB = 2**30
HOURS_PER_MONTH = 730.0  # 8760 h / 12
GPU_COUNTS = {"datacenter": (1, 2, 4, 8), "workstation": (1, 2, 4), "consumer": (1, 2, 4)}
RAM_SIZES_GB = (16, 32, 64, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)
DEFAULT_AMORTIZATION_MONTHS = 36
DEFAULT_KWH_PRICE = 0.15


def _host_ram_gb(vram_gib: float) -> int:
    """A host for a GPU build: twice the VRAM (room to load and to page), at least 64 GB."""
    need = max(64.0, 2 * vram_gib)
    return next((size for size in RAM_SIZES_GB if size >= need), RAM_SIZES_GB[-1])


def _configurations(entries: list[HardwareEntry], min_bytes: int) -> list[tuple[str, HardwareEntry, int]]:
    """(spec, entry, device count) for every configuration with enough raw memory for the weights."""
    configs = []
    for entry in entries:
        if entry.kind == "gpu":
            for count in GPU_COUNTS.get(entry.category, (1,)):
                vram = (entry.memory_gib or 0) * count
                if vram * GIB >= min_bytes:
                    configs.append((f"{count}x{entry.id}@{_host_ram_gb(vram)}" if count > 1 else f"{entry.id}@{_host_ram_gb(vram)}", entry, count))
            if entry.category == "datacenter" and (entry.memory_gib or 0) * 8 * GIB < min_bytes <= (entry.memory_gib or 0) * 16 * GIB:
                configs.append((f"2x8x{entry.id}@{_host_ram_gb((entry.memory_gib or 0) * 8)}", entry, 16))
        elif entry.kind == "apple-silicon":
            for size in entry.memory_options_gib:
                if size * GIB * 0.66 >= min_bytes:  # the GPU may wire about two thirds at the smallest sizes
                    configs.append((f"{entry.id}@{size:g}", entry, 1))
        else:
            size = next((s for s in RAM_SIZES_GB if s * GIB * 0.85 >= min_bytes), None)
            if size is not None:
                configs.append((f"{entry.id}@{size}", entry, 1))
    return configs


def monthly_cost(
    price_usd: Optional[float],
    power_w: Optional[float],
    *,
    amortization_months: int,
    kwh_price: float,
    utilization: float,
    api_price_per_mtok: Optional[float],
    monthly_tokens: Optional[float],
    capacity_tokens_per_s: Optional[float],
) -> Cost:
    """Owning (hardware amortized + power at TDP while busy) against an API priced per million tokens."""
    notes = []
    own = None
    if price_usd is not None:
        own = price_usd / amortization_months
        if power_w is not None:
            own += power_w / 1000 * HOURS_PER_MONTH * utilization * kwh_price
        else:
            notes.append("power draw unknown (no TDP in the catalog): electricity not counted")
    else:
        notes.append("no price in the catalog for this hardware: owning cost unknown")
    capacity = capacity_tokens_per_s * 3600 * HOURS_PER_MONTH * utilization if capacity_tokens_per_s else None
    api = monthly_tokens / 1e6 * api_price_per_mtok if (monthly_tokens is not None and api_price_per_mtok is not None) else None
    break_even = own / api_price_per_mtok * 1e6 if (own is not None and api_price_per_mtok) else None
    if break_even is not None and capacity is not None and break_even > capacity:
        notes.append(f"break-even volume exceeds what this hardware can generate ({capacity:,.0f} tokens/month): the API stays cheaper")
    if monthly_tokens is not None and capacity is not None and monthly_tokens > capacity:
        notes.append(f"{monthly_tokens:,.0f} tokens/month is more than this hardware generates at this load ({capacity:,.0f})")
    return Cost(
        hardware_price_usd=price_usd,
        amortization_months=amortization_months,
        power_w=power_w,
        electricity_usd_per_kwh=kwh_price,
        utilization=utilization,
        monthly_own_usd=round(own, 2) if own is not None else None,
        monthly_tokens=monthly_tokens,
        api_price_per_mtok=api_price_per_mtok,
        monthly_api_usd=round(api, 2) if api is not None else None,
        break_even_tokens_per_month=round(break_even) if break_even is not None else None,
        capacity_tokens_per_month=round(capacity) if capacity is not None else None,
        notes=notes,
    )


def plan(
    model: str,
    *,
    ctx: int = 8192,
    users: int = 1,
    tokens_per_s: Optional[float] = None,
    quant: Optional[str] = None,
    prefer: str = "balanced",
    top: int = 10,
    api_price_per_mtok: Optional[float] = None,
    monthly_tokens: Optional[float] = None,
    amortization_months: int = DEFAULT_AMORTIZATION_MONTHS,
    kwh_price: float = DEFAULT_KWH_PRICE,
    utilization: float = 1.0,
    kinds: Optional[set[str]] = None,
) -> HardwarePlan:
    """Catalog hardware that runs `model` for `users` at `ctx`, ranked by price (where known) then speed."""
    if tokens_per_s is not None and tokens_per_s <= 0:
        raise InvalidInputError(f"--tokens-per-s must be positive, got {tokens_per_s}")
    if not 0 < utilization <= 1:
        raise InvalidInputError(f"utilization must be in (0, 1], got {utilization}")
    if amortization_months <= 0:
        raise InvalidInputError("amortization must be at least one month")
    model_input = resolve_model(model)
    entry = model_input.entry
    # The smallest weights any engine could load: a lower bound that prunes hopeless machines early.
    smallest = min(
        weights_for(model_input, q, fmt).total_bytes
        for q, fmt in ((quant, "gguf") if quant else ("IQ2_M" if entry.native_quant != "mxfp4" else "MXFP4_MOE", "gguf"),)
        if q
    ) if not quant or quant.upper().startswith(("Q", "IQ", "MXFP4", "F")) else 0
    workload = Workload(ctx=ctx, users=users, prefer=prefer)  # type: ignore[arg-type]
    options: list[HardwareOption] = []
    rejected: list[Rejected] = []
    entries = [e for e in hardware_entries() if not kinds or e.kind in kinds]
    for spec, hardware, count in _configurations(entries, smallest):
        machine = parse_hardware_spec(spec)
        result = recommend([model_input.entry], hardware=machine, ctx=ctx, users=users, prefer=prefer, top=None)
        candidates = [o for o in result.options if quant is None or o.quant.lower() == quant.lower()]
        candidates = [o for o in candidates if o.placement != "partial-offload"]  # a purchase should hold the model
        if not candidates:
            reason = result.rejected[-1].reason if result.rejected else "no engine runs it here"
            rejected.append(Rejected(model=entry.id, backend="-", quant=quant, reason=f"{spec}: {reason}"))
            continue
        best = candidates[0]
        speed = best.throughput.per_user_tokens_per_s if users > 1 else best.throughput.decode_tokens_per_s
        meets = None if tokens_per_s is None or speed is None else speed >= tokens_per_s
        if meets is False:
            rejected.append(Rejected(model=entry.id, backend=best.backend, quant=best.quant,
                                     reason=f"{spec}: about {speed:.1f} tokens/s per user, below the {tokens_per_s:g} asked"))
            continue
        options.append(_hardware_option(spec, hardware, count, best, meets, users, api_price_per_mtok, monthly_tokens,
                                        amortization_months, kwh_price, utilization))
    options.sort(key=lambda o: (o.price_usd is None, o.price_usd or 0.0, -(o.throughput.decode_tokens_per_s or 0.0)))
    for number, option in enumerate(options, 1):
        option.rank = number
    notes = ["prices are launch/list prices where the catalog has one (Apple: the base configuration's only)"]
    if any(o.kind == "gpu" for o in options):
        notes.append("GPU builds assume a host with twice the VRAM in RAM (at least 64 GB)")
    return HardwarePlan(model=entry.id, workload=workload, tokens_per_s_target=tokens_per_s, options=options[:top], rejected=rejected, notes=notes)


def _hardware_option(spec: str, hardware: HardwareEntry, count: int, best: Option, meets: Optional[bool], users: int,
                     api_price: Optional[float], monthly_tokens: Optional[float], months: int, kwh: float, utilization: float) -> HardwareOption:
    price = hardware.price_usd * count if hardware.price_usd is not None else None
    if hardware.kind == "apple-silicon" and not spec.endswith(f"@{min(hardware.memory_options_gib):g}"):
        price = None  # the catalog's Apple price is the base configuration's; more memory costs more
    power = hardware.tdp_w * count if hardware.tdp_w is not None else None
    capacity = best.throughput.aggregate_tokens_per_s or best.throughput.decode_tokens_per_s
    cost = None
    if api_price is not None or monthly_tokens is not None:
        cost = monthly_cost(price, power, amortization_months=months, kwh_price=kwh, utilization=utilization,
                            api_price_per_mtok=api_price, monthly_tokens=monthly_tokens, capacity_tokens_per_s=capacity)
    label = f"{count} × {hardware.name}" if count > 1 else hardware.name
    return HardwareOption(
        rank=0, hardware=spec, name=label, kind=hardware.kind, price_usd=price, backend=best.backend, quant=best.quant,
        placement=best.placement, memory_total_bytes=best.memory.total_bytes, throughput=best.throughput, meets_target=meets,
        cost=cost, reasons=best.reasons,
    )
