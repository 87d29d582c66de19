"""The recommender: every engine × quantization × placement × settings for a machine and a
workload, with what does not fit or cannot run dropped (and why), and the rest ranked.

It sizes nothing itself: each candidate is one call to :func:`sizer.estimate.api.estimate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Union

from sizer.errors import InvalidInputError, SizerError
from sizer.estimate.api import ModelInput, cached_weights, estimate, parameter_counts, resolve_model, weights_for
from sizer.estimate.result import Estimate
from sizer.recommend import quality as quality_table
from sizer.recommend.result import Option, OptionThroughput, Priority, Recommendation, Rejected, Workload
from sizer.types import Machine, ModelEntry

GIB = 2**30

SMALL_MODEL_F16 = 4e9  # below this, 16-bit GGUF is worth offering: the weights are small anyway

# sizer's headroom policy for system RAM: what the OS, the desktop and the engine's own process need
# beside the model.  A policy, not a measurement: max(2 GiB, 10% of RAM).
OS_RESERVE_MIN = 2 * GIB
OS_RESERVE_FRACTION = 0.10

# Decode speed at which one user reads comfortably; speed scores saturate there.
COMFORTABLE_TOKENS_PER_S = 30.0
# Below this an option is listed but not "runs well" when no model was named.
USABLE_TOKENS_PER_S = 5.0
# Users from which a batching server (vLLM, TGI) is the right tool.
SERVING_USERS = 4

PRIORITY_WEIGHTS = {"quality": (0.7, 0.3), "balanced": (0.5, 0.5), "speed": (0.2, 0.8)}
SIZE_GROUPS = ((2e9, "tiny (<2B)"), (5e9, "small (2-5B)"), (15e9, "medium (5-15B)"), (40e9, "large (15-40B)"), (math.inf, "huge (>40B)"))


def size_group(params: float) -> str:
    return next(label for limit, label in SIZE_GROUPS if params < limit)


def os_reserve_bytes(total_ram: Optional[int]) -> int:
    if not total_ram:
        return OS_RESERVE_MIN
    return max(OS_RESERVE_MIN, int(total_ram * OS_RESERVE_FRACTION))


@dataclass
class _Context:
    machine: Machine
    hardware_label: str
    workload: Workload
    rejected: list[Rejected]


def _machine(hardware: Union[str, Machine, None]) -> tuple[Machine, str]:
    if isinstance(hardware, Machine):
        return hardware, hardware.name or "machine"
    from sizer.hardware_spec import parse_hardware_spec

    spec = hardware or "local"
    return parse_hardware_spec(spec), spec


def ladder_columns(engine_name: str, models: Iterable[ModelEntry]) -> list[str]:
    """Every quantization the recommender may try with this engine for these models (heat-map columns)."""
    from sizer.engines.base import get_engine

    engine = get_engine(engine_name)
    columns = [*engine.SMALL_MODEL_EXTRA, *engine.LADDER]
    for native in sorted({m.native_quant for m in models if m.native_quant}):
        columns += [q for q in engine.NATIVE_LADDERS.get(native, ()) if q not in columns]
    return columns


# Bytes per parameter of the checkpoint formats' packed weights (before scales and 16-bit leftovers).
_CHECKPOINT_BYTES_PER_PARAM = {"bf16": 2.0, "fp16": 2.0, "fp32": 4.0, "fp8": 1.0, "int8": 1.0, "eetq": 1.0, "gptq-int8": 1.0,
                               "awq": 0.5, "gptq": 0.5, "nf4": 0.5, "fp4": 0.5, "mxfp4": 0.5}
# The screen below rejects only what is certainly too big: the mix never stores most weights below its
# default type, so 80% of (parameters x the default type's bits) is a safe floor.
_LOWER_BOUND_MARGIN = 0.8


def weights_lower_bound(params: int, quant: str, weights_format: str) -> float:
    """A cheap floor on a quantization's weight bytes, to skip combinations that cannot fit."""
    if weights_format == "gguf":
        from sizer.estimate.gguf_quant import FILE_TYPES, ggml_block_sizes, parse_ftype

        block, size = ggml_block_sizes()[FILE_TYPES[parse_ftype(quant)].default_type]
        per_param = size / block
    else:
        per_param = _CHECKPOINT_BYTES_PER_PARAM.get(quant, 0.0)
    return _LOWER_BOUND_MARGIN * params * per_param


def _memory_ceiling(machine: Machine, weights_format: str) -> int:
    """Memory weights could occupy: GPUs plus RAM for GGUF engines (they offload), GPUs only for the others."""
    host = machine.hosts[0]
    gpu = sum(a.memory_total_bytes or 0 for a in host.accelerators if not a.unified_memory)
    if weights_format != "gguf":
        return gpu * len(machine.hosts)
    ram = host.memory.usable_bytes or 0
    return (gpu + ram) * len(machine.hosts)


def _policy_problem(result: Estimate, machine: Machine, workload: Workload) -> Optional[str]:
    """Why an estimate that the engine would load is still not a plan to recommend."""
    if result.fits is False:
        worst = min((d for d in result.memory.devices if d.fits is False), key=lambda d: d.headroom_bytes or 0, default=None)
        if worst is not None and worst.capacity_bytes is not None:
            return f"needs {worst.total_bytes / GIB:.1f} GiB on {worst.device}, which has {worst.capacity_bytes / GIB:.1f} GiB"
        return "does not fit"
    host = machine.hosts[0]
    total_ram = host.memory.usable_bytes
    for device in result.memory.devices:
        if device.device == "cpu" and total_ram:
            limit = (host.memory.available_bytes or total_ram) - os_reserve_bytes(total_ram)
            if device.total_bytes > limit:
                return (
                    f"needs {device.total_bytes / GIB:.1f} GiB of system RAM, more than the {limit / GIB:.1f} GiB left "
                    f"after {os_reserve_bytes(total_ram) / GIB:.1f} GiB for the OS"
                )
    if result.fits is None and any(d.device == "cpu" and d.layers for d in result.memory.devices):
        return "needs system RAM for offloaded layers, and the RAM size is unknown (add @GB to the hardware spec)"
    if result.memory.max_concurrency is not None and result.memory.max_concurrency < 1:
        return f"the KV pool holds less than one {workload.ctx:,}-token sequence"
    return None


def _try(model_input: ModelInput, engine, quant: str, ctx: _Context) -> tuple[Optional[Estimate], Optional[str]]:
    """The engine's defaults, else its fallback settings (a quantized KV cache): the first that fits.

    For a paged engine whose pool holds fewer sequences than the users, a fallback that holds more is
    taken too.
    """
    workload = ctx.workload
    chosen: Optional[Estimate] = None
    last_problem = None
    for extra in ({}, *engine.KV_FALLBACKS):
        try:
            result = estimate(model_input, quant=quant, backend=engine.name, hardware=ctx.machine, ctx=workload.ctx,
                              parallel=workload.users, **extra)
        except SizerError as exc:
            if chosen is None and not extra:
                return None, str(exc)
            continue
        problem = _policy_problem(result, ctx.machine, workload)
        if problem is not None:
            last_problem = problem
            continue
        concurrency = result.memory.max_concurrency
        if chosen is None or (concurrency or 0) > (chosen.memory.max_concurrency or 0):
            chosen = result
        if concurrency is None or concurrency >= workload.users:
            break
    return (chosen, None) if chosen is not None else (None, last_problem)


def _headroom(result: Estimate) -> Optional[int]:
    values = [d.headroom_bytes for d in result.memory.devices if d.headroom_bytes is not None and (d.layers or d.device != "cpu")]
    return min(values) if values else None


def _throughput(result: Estimate, model_input: ModelInput, machine: Machine, users: int) -> OptionThroughput:
    t = result.throughput
    out = OptionThroughput(
        decode_tokens_per_s=t.decode_tokens_per_s if t else None,
        prefill_tokens_per_s=t.prefill_tokens_per_s if t else None,
        time_to_first_token_s=t.time_to_first_token_s if t else None,
    )
    if t and t.decode_tokens_per_s:
        try:
            from sizer.estimate.speed import serving_throughput

            weights = weights_for(model_input, result.quant, result.weights_format)
            aggregate, per_user = serving_throughput(result, model_input.entry, weights, machine, users)
            out.aggregate_tokens_per_s, out.per_user_tokens_per_s = aggregate, per_user
        except (ImportError, SizerError):
            out.aggregate_tokens_per_s = out.per_user_tokens_per_s = None
    return out


def _score(option_quality: Optional[float], per_user: Optional[float], engine, workload: Workload) -> float:
    quality_weight, speed_weight = PRIORITY_WEIGHTS[workload.prefer]
    quality_score = option_quality if option_quality is not None else 0.5
    speed_score = min(1.0, (per_user or 0.0) / COMFORTABLE_TOKENS_PER_S)
    few_users_bonus, many_users_bonus = engine.FIT_BONUS
    fit = many_users_bonus if workload.users >= SERVING_USERS else few_users_bonus
    return round(quality_weight * quality_score + speed_weight * speed_score + fit, 4)


def _reasons(result: Estimate, engine, model: ModelEntry, machine: Machine, workload: Workload, throughput: OptionThroughput, quality_text: Optional[str]) -> list[str]:
    reasons: list[str] = []
    memory = result.memory
    gpu_devices = [d for d in memory.devices if d.device != "cpu" and (d.layers or d.weights_bytes)]
    headroom = _headroom(result)
    placement = result.placement
    if placement in ("gpu", "multi-gpu", "multi-node", "unified-memory"):
        where = ", ".join(f"{d.device} {d.total_bytes / GIB:.1f}/{(d.capacity_bytes or 0) / GIB:.1f} GiB" for d in gpu_devices)
        reasons.append(f"fits in GPU memory ({where})" + (f", {headroom / GIB:.1f} GiB to spare" if headroom is not None else ""))
    elif placement == "partial-offload":
        s = result.settings
        reasons.append(
            f"partial offload: {s.gpu_layers} of {model.num_layers + 1} layers on the GPU, the rest in system RAM "
            "(the CPU part runs at memory bandwidth)"
        )
    elif placement == "cpu":
        reasons.append("runs on the CPU from system RAM")
    if quality_text:
        reasons.append(quality_text)
    if result.settings.kv_type_k not in ("f16", "auto"):
        reasons.append(f"KV cache in {result.settings.kv_type_k} to make room for {workload.ctx:,} tokens × {workload.users}")
    if memory.kv_capacity_tokens is not None:
        reasons.append(
            f"paged KV pool: {memory.kv_capacity_tokens:,} tokens = {memory.max_concurrency:.1f} sequences of {workload.ctx:,}"
        )
    reasons += engine.recommendation_reasons(model, placement, workload.users, workload.users >= SERVING_USERS)
    if throughput.decode_tokens_per_s:
        reasons.append(f"about {throughput.decode_tokens_per_s:.0f} tokens/s for one user")
    if throughput.per_user_tokens_per_s and workload.users > 1:
        reasons.append(f"about {throughput.per_user_tokens_per_s:.0f} tokens/s each for {workload.users} users")
    return reasons


def _model_inputs(models: Optional[Iterable[Union[str, ModelEntry]]]) -> list[ModelInput]:
    if models:
        return [resolve_model(m) for m in models]
    from sizer.catalog import model_entries

    return [ModelInput(entry, "catalog") for entry in model_entries()]


def recommend(
    models: Optional[Iterable[Union[str, ModelEntry]]] = None,
    *,
    hardware: Union[str, Machine, None] = "local",
    ctx: int = 8192,
    users: int = 1,
    prefer: Priority = "balanced",
    top: Optional[int] = 5,
    backends: Optional[Sequence[str]] = None,
) -> Recommendation:
    """Ranked ways to run `models` (default: the whole catalog) on `hardware` for a workload."""
    from sizer.engines.base import engine_names, get_engine

    if not 0 < ctx <= 1 << 24:
        raise InvalidInputError(f"context length must be between 1 and {1 << 24:,}, got {ctx}")
    if not 0 < users <= 100_000:
        raise InvalidInputError(f"users must be between 1 and 100,000, got {users}")
    if prefer not in PRIORITY_WEIGHTS:
        raise InvalidInputError(f"prefer must be one of {', '.join(PRIORITY_WEIGHTS)}, not '{prefer}'")
    machine, label = _machine(hardware)
    workload = Workload(ctx=ctx, users=users, prefer=prefer)
    context = _Context(machine, label, workload, [])
    named = bool(models)
    inputs = _model_inputs(models)
    engines = [get_engine(name) for name in (backends or engine_names())]
    options: list[Option] = []
    for model_input in inputs:
        model = model_input.entry
        params, _active = parameter_counts(model_input)
        for engine in engines:
            machine_reason = engine.cannot_run(model, engine.default_quant(model), machine)
            if machine_reason and ("GPU" in machine_reason or "CUDA" in machine_reason):
                context.rejected.append(Rejected(model=model.id, backend=engine.name, reason=machine_reason))
                continue
            if engine.NEEDS_LIBRARY_TAG and not model.ollama_tag and model_input.source != "gguf":
                # A local GGUF can be imported with a Modelfile (FROM ./file.gguf); anything else needs a library tag.
                context.rejected.append(Rejected(model=model.id, backend=engine.name, reason=f"no {engine.label} library tag is known for this model"))
                continue
            found_full_fit = 0
            for quant in engine.quant_ladder(model, params, SMALL_MODEL_F16):
                reason = engine.cannot_run(model, quant, machine)
                if reason is None and engine.W8A8_FP8 and quant == "fp8":
                    reason = _fp8_compute_reason(machine)
                if reason:
                    context.rejected.append(Rejected(model=model.id, backend=engine.name, quant=quant, reason=reason))
                    continue
                ceiling = _memory_ceiling(machine, engine.weights_format)
                known = cached_weights(model_input, quant, engine.weights_format)
                if known is None and model_input.source == "catalog" and weights_lower_bound(params, quant, engine.weights_format) > ceiling:
                    context.rejected.append(Rejected(
                        model=model.id, backend=engine.name, quant=quant,
                        reason=f"weights alone are over {weights_lower_bound(params, quant, engine.weights_format) / GIB:.0f} GiB, "
                        f"more than the {ceiling / GIB:.1f} GiB {engine.name} can hold here",
                    ))
                    continue
                try:
                    weights = weights_for(model_input, quant, engine.weights_format)
                except SizerError as exc:
                    context.rejected.append(Rejected(model=model.id, backend=engine.name, quant=quant, reason=str(exc)))
                    continue
                if weights.total_bytes > ceiling:
                    context.rejected.append(Rejected(
                        model=model.id, backend=engine.name, quant=quant,
                        reason=f"weights alone are {weights.total_bytes / GIB:.1f} GiB, more than the {ceiling / GIB:.1f} GiB {engine.name} can hold here",
                    ))
                    continue
                result, problem = _try(model_input, engine, quant, context)
                if result is None:
                    context.rejected.append(Rejected(model=model.id, backend=engine.name, quant=quant, reason=problem or "does not fit"))
                    continue
                options.append(_option(result, model_input, engine, params, machine, workload))
                if result.placement in ("gpu", "multi-gpu", "multi-node", "unified-memory"):
                    found_full_fit += 1
                    if found_full_fit >= 2:  # lower quants only trade quality for a little speed
                        break
    ranked = _rank(options, workload, named)
    notes = list(machine.warnings)
    if top is not None and top > 0:
        ranked = _top(ranked, top, named)
    return Recommendation(hardware=label, workload=workload, options=ranked, rejected=context.rejected, notes=notes)


def _fp8_compute_reason(machine: Machine) -> Optional[str]:
    for host in machine.hosts:
        for accelerator in host.accelerators:
            if accelerator.vendor == "nvidia" and accelerator.compute_capability and float(accelerator.compute_capability) < 8.9:
                return (
                    f"FP8 W8A8 needs compute capability >= 8.9; {accelerator.name} has {accelerator.compute_capability} "
                    "(vLLM would fall back to weight-only FP8 Marlin: no compute gain, use AWQ/GPTQ)"
                )
    return None


def _option(result: Estimate, model_input: ModelInput, engine, params: int, machine: Machine, workload: Workload) -> Option:
    model = model_input.entry
    throughput = _throughput(result, model_input, machine, workload.users)
    quant_quality = quality_table.lookup(result.quant)
    per_user = throughput.per_user_tokens_per_s if workload.users > 1 else throughput.decode_tokens_per_s
    return Option(
        rank=0,
        model=model.id,
        model_name=model.name,
        params_b=round(params / 1e9, 2),
        group=size_group(params),
        backend=engine.name,
        quant=result.quant,
        weights_format=result.weights_format,
        fits=True,
        placement=result.placement or "cpu",
        settings=result.settings,
        memory=result.memory,
        headroom_bytes=_headroom(result),
        throughput=throughput,
        quality=quant_quality,
        score=_score(quality_table.score(result.quant), per_user, engine, workload),
        reasons=_reasons(result, engine, model, machine, workload, throughput, quant_quality.summary if quant_quality else None),
        warnings=result.warnings,
    )


def _rank(options: list[Option], workload: Workload, named: bool) -> list[Option]:
    def key(option: Option) -> tuple:
        if named:
            return (-option.score,)
        # The whole catalog: within "runs well", bigger models first is what people ask for.
        speed = option.throughput.per_user_tokens_per_s if workload.users > 1 else option.throughput.decode_tokens_per_s
        runs_well = speed is None or speed >= USABLE_TOKENS_PER_S
        return (not runs_well, -option.score - 0.1 * math.log10(max(option.params_b, 0.1)))

    ranked = sorted(options, key=key)
    for number, option in enumerate(ranked, 1):
        option.rank = number
    return ranked


def _top(options: list[Option], top: int, named: bool) -> list[Option]:
    """The first `top` options; for the whole catalog, the best option of each model, per size group."""
    if named:
        return options[:top]
    best_per_model: dict[str, Option] = {}
    for option in options:
        best_per_model.setdefault(option.model, option)
    per_group: dict[str, list[Option]] = {}
    for option in best_per_model.values():
        per_group.setdefault(option.group, []).append(option)
    # Largest size class first: "the best models this machine runs well" starts with the biggest.
    chosen = [o for _, label in reversed(SIZE_GROUPS) for o in per_group.get(label, [])[:top]]
    for number, option in enumerate(chosen, 1):
        option.rank = number
    return chosen
