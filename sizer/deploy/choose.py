"""Which plan `sizer deploy` turns into files: the one asked for, or the recommender's first choice."""

from __future__ import annotations

from typing import Optional

from sizer.errors import UnsupportedError
from sizer.estimate.result import Estimate
from sizer.types import Machine


def plan_deployment(
    model: str,
    *,
    backend: Optional[str],
    quant: Optional[str],
    hardware: str,
    ctx: int,
    users: int,
) -> tuple[Estimate, Machine]:
    """The estimate to deploy and the machine it was made for.

    With both engine and quantization given, the estimate is made for them; otherwise the
    recommender picks among what fits (restricted to the engine or quant given, if any).
    """
    from sizer.estimate.api import estimate
    from sizer.hardware_spec import parse_hardware_spec
    from sizer.recommend import recommend

    machine = parse_hardware_spec(hardware)
    if backend and quant:
        return estimate(model, backend=backend, quant=quant, hardware=machine, ctx=ctx, parallel=users), machine
    result = recommend([model], hardware=machine, ctx=ctx, users=users, top=None, backends=[backend] if backend else None)
    options = [o for o in result.options if quant is None or o.quant.lower() == quant.lower()]
    if not options:
        reasons = "; ".join(sorted({r.reason for r in result.rejected})[:3]) or "nothing fits"
        raise UnsupportedError(f"no plan for {model} on {hardware}: {reasons}")
    best = options[0]
    kv_type = best.settings.kv_type_k if best.settings.kv_type_k not in ("f16", "auto") else None
    chosen = estimate(model, backend=best.backend, quant=best.quant, hardware=machine, ctx=ctx, parallel=users, kv_type=kv_type)
    return chosen, machine
