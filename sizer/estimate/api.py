"""`sizer.estimate(...)`: one model × quantization × engine × hardware → an :class:`Estimate`.

The CLI, the recommender and the Streamlit app all call this; none of them size anything itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional, Union

from sizer.errors import InvalidInputError, UnsupportedError
from sizer.estimate.result import Estimate, ModelRef
from sizer.estimate.weights import Weights
from sizer.types import Machine, ModelEntry

_LAYER = re.compile(r"^blk\.(\d+)\.")


def _layer_of(name: str) -> Optional[int]:
    match = _LAYER.match(name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class ModelInput:
    """A model as the user gave it: a catalog entry, a config.json, or a GGUF file's header."""

    entry: ModelEntry
    source: str  # "catalog", "config.json", "gguf"
    gguf: Optional[object] = None  # GgufHeader for a .gguf input


def resolve_model(spec: Union[str, Path, ModelEntry]) -> ModelInput:
    """A catalog id/alias, a config.json (or its folder), or a .gguf file."""
    if isinstance(spec, ModelEntry):
        from sizer.catalog import model_entries

        in_catalog = any(entry == spec for entry in model_entries() if entry.id == spec.id)
        return ModelInput(spec, "catalog" if in_catalog else "custom")
    text = str(spec).strip()
    path = Path(text).expanduser()
    is_gguf = path.suffix.lower() == ".gguf"
    if not is_gguf and path.is_file():
        with open(path, "rb") as handle:
            is_gguf = handle.read(4) == b"GGUF"
    if is_gguf:
        from sizer.estimate.gguf_file import model_entry_from_gguf, read_gguf_header

        header = read_gguf_header(path, check_data=False)
        return ModelInput(model_entry_from_gguf(header), "gguf", header)
    if path.exists() or path.suffix.lower() == ".json":
        from sizer.estimate.hf_config import load_config, model_entry_from_config

        config = load_config(path)
        name = path.name if path.is_dir() else (path.parent.name or path.stem)
        return ModelInput(model_entry_from_config(config, id="custom", name=name or "custom", source=str(path)), "config.json")
    from sizer.catalog import get_model

    return ModelInput(get_model(text), "catalog")


def _repackable(rows) -> tuple[tuple[str, int], ...]:
    """Bytes per type of layer matrix weights a CPU backend could repack: (name, type, bytes, shape) rows."""
    totals: dict[str, int] = {}
    for name, ggml_type, size, shape in rows:
        if not name.startswith("blk.") or not name.endswith(".weight"):
            continue
        if len(shape) != (3 if "_exps." in name else 2) or shape[1] % 8:
            continue
        totals[ggml_type] = totals.get(ggml_type, 0) + size
    return tuple(sorted(totals.items()))


def _weights_from_breakdown(tensors, quant: str, fmt: str, model: ModelEntry, *, exact: bool, header_bytes: int = 0,
                            repackable: tuple[tuple[str, int], ...] = ()) -> Weights:
    """Turn (name, bytes, layer) triples into the per-layer split engines place."""
    layer_bytes = [0] * model.num_layers
    expert_bytes = [0] * model.num_layers
    token_embd = output = other = 0
    moe = model.is_moe
    tied = True
    for name, size, layer in tensors:
        if layer is not None and layer < model.num_layers:
            layer_bytes[layer] += size
            if moe and "_exps." in name:
                expert_bytes[layer] += size
        elif layer is not None:
            other += size  # layers past num_layers: DeepSeek's multi-token-prediction block
        elif name.startswith("token_embd."):
            token_embd += size
        elif name.startswith("output"):
            output += size
            tied = tied and not name.startswith("output.weight")
        else:
            other += size
    fraction = 1.0
    if model.is_moe and model.num_experts:
        fraction = (model.num_experts_per_token or 1) / model.num_experts
    return Weights(
        quant=quant,
        format=fmt,
        layer_bytes=tuple(layer_bytes),
        token_embd_bytes=token_embd,
        output_bytes=output,
        other_bytes=other,
        expert_layer_bytes=tuple(expert_bytes) if any(expert_bytes) else (),
        active_expert_fraction=fraction,
        tied_embeddings=tied,
        exact=exact,
        header_bytes=header_bytes,
        repackable_bytes=repackable,
    )


def weights_for(model_input: ModelInput, quant: str, weights_format: str) -> Weights:
    """Bytes of the weights an engine loads for this model in this quantization."""
    if model_input.source == "catalog":
        return _catalog_weights(model_input.entry.id, quant, weights_format)
    return _compute_weights(model_input, quant, weights_format)


@lru_cache(maxsize=4096)
def _catalog_weights(model_id: str, quant: str, weights_format: str) -> Weights:
    """Catalog models never change while sizer runs; the recommender asks for the same weights often,
    and so does every `sizer` process: the disk cache (sizer.estimate.cache) keeps them between runs."""
    from sizer.catalog import get_model
    from sizer.estimate import cache

    cached = cache.get(model_id, quant, weights_format)
    if cached is not None:
        return cached
    weights = _compute_weights(ModelInput(get_model(model_id), "catalog"), quant, weights_format)
    cache.put(model_id, quant, weights_format, weights)
    return weights


def cached_weights(model_input: ModelInput, quant: str, weights_format: str) -> Optional[Weights]:
    """Weights already known (this process, the disk cache or the shipped table), without computing them."""
    if model_input.source != "catalog":
        return None
    from sizer.estimate import cache

    return cache.get(model_input.entry.id, quant, weights_format)


@lru_cache(maxsize=1024)
def catalog_parameter_counts(model_id: str) -> tuple[int, int]:
    """(total, active) parameters counted from a catalog model's tensors."""
    from sizer.catalog import get_model
    from sizer.estimate import cache
    from sizer.estimate.tensors import active_parameter_count, parameter_count

    cached = cache.get_params(model_id)
    if cached is not None:
        return cached
    entry = get_model(model_id)
    counts = parameter_count(entry), active_parameter_count(entry)
    cache.put_params(model_id, *counts)
    return counts


def parameter_counts(model_input: ModelInput) -> tuple[int, int]:
    if model_input.source == "catalog":
        return catalog_parameter_counts(model_input.entry.id)
    from sizer.estimate.tensors import active_parameter_count, parameter_count

    return parameter_count(model_input.entry), active_parameter_count(model_input.entry)


def _compute_weights(model_input: ModelInput, quant: str, weights_format: str) -> Weights:
    model = model_input.entry
    if model_input.gguf is not None:
        header = model_input.gguf
        if weights_format != "gguf":
            raise UnsupportedError(f"{header.file_name} is a GGUF file; this backend loads safetensors checkpoints")
        tensors = [(t.name, t.n_bytes, _layer_of(t.name)) for t in header.tensors]
        repackable = _repackable((t.name, t.type_name, t.n_bytes, t.shape) for t in header.tensors)
        return _weights_from_breakdown(tensors, header.file_type or quant, "gguf", model, exact=True, header_bytes=header.header_bytes,
                                       repackable=repackable)
    if weights_format == "gguf":
        from sizer.estimate.gguf_quant import gguf_weights

        breakdown = gguf_weights(model, quant)
        tensors = [(t.name, t.bytes, t.layer) for t in breakdown.tensors]
        from sizer.estimate.tensors import model_tensors

        shapes = {t.name: t.shape for t in model_tensors(model)}
        repackable = _repackable((t.name, t.dtype, t.bytes, shapes.get(t.name, ())) for t in breakdown.tensors)
        return _weights_from_breakdown(tensors, breakdown.ftype, "gguf", model, exact=False, header_bytes=breakdown.header_bytes,
                                       repackable=repackable)
    from sizer.estimate.formats import checkpoint_weights

    breakdown = checkpoint_weights(model, quant)
    tensors = [(t.name, t.bytes, t.layer) for t in breakdown.tensors]
    return _weights_from_breakdown(tensors, quant, "safetensors", model, exact=False)


def normalize_quant(engine, quant: Optional[str], model_input: ModelInput) -> str:
    """The engine's spelling of a quantization name, or a one-line error listing the valid ones."""
    if model_input.gguf is not None:
        file_type = model_input.gguf.file_type or "GGUF"
        if quant and quant.upper() != file_type.upper():
            raise InvalidInputError(f"{model_input.gguf.file_name} is {file_type}; --quant {quant} does not apply to a file")
        return file_type
    if quant is None:
        return engine.default_quant(model_input.entry)
    names = engine.quant_names()
    for name in names:
        if quant.lower() == name.lower():
            return name
    if engine.weights_format != "gguf" and quant.upper().startswith(("Q", "IQ")):
        raise InvalidInputError(
            f"{quant} is a GGUF type and {engine.name} loads safetensors checkpoints; use --backend llama.cpp or ollama, "
            f"or one of {', '.join(names)}"
        )
    raise InvalidInputError(f"{engine.name} has no quantization '{quant}'; choose from {', '.join(names)}")


def estimate(
    model: Union[str, Path, ModelEntry, ModelInput],
    *,
    quant: Optional[str] = None,
    backend: str = "llama.cpp",
    hardware: Union[str, Machine, None] = None,
    ctx: Optional[int] = None,
    parallel: Optional[int] = None,
    kv_type: Optional[str] = None,
    kv_type_v: Optional[str] = None,
    flash_attn: Optional[bool] = None,
    n_batch: Optional[int] = None,
    n_ubatch: Optional[int] = None,
    gpu_layers: Optional[int] = None,
    gpu_memory_utilization: Optional[float] = None,
    tensor_parallel: Optional[int] = None,
    pipeline_parallel: Optional[int] = None,
    max_num_batched_tokens: Optional[int] = None,
    enforce_eager: Optional[bool] = None,
    prompt_tokens: int = 512,
) -> Estimate:
    """Memory (and, with hardware, placement and speed) of running `model` with `backend`."""
    from sizer.engines.base import Request, get_engine

    engine = get_engine(backend)
    model_input = model if isinstance(model, ModelInput) else resolve_model(model)
    entry = model_input.entry
    machine: Optional[Machine]
    hardware_label: Optional[str]
    if isinstance(hardware, Machine):
        machine, hardware_label = hardware, hardware.name or "machine"
    elif hardware:
        from sizer.hardware_spec import parse_hardware_spec

        machine, hardware_label = parse_hardware_spec(hardware), hardware
    else:
        machine, hardware_label = None, None
    quant_name = normalize_quant(engine, quant, model_input)
    reason = engine.cannot_run(entry, quant_name, machine)
    if reason:
        raise UnsupportedError(reason)
    weights = weights_for(model_input, quant_name, engine.weights_format)
    request = Request(
        ctx=ctx,
        parallel=parallel,
        kv_type=kv_type,
        kv_type_v=kv_type_v,
        flash_attn=flash_attn,
        n_batch=n_batch,
        n_ubatch=n_ubatch,
        gpu_layers=gpu_layers,
        gpu_memory_utilization=gpu_memory_utilization,
        tensor_parallel=tensor_parallel,
        pipeline_parallel=pipeline_parallel,
        max_num_batched_tokens=max_num_batched_tokens,
        enforce_eager=enforce_eager,
    )
    result = engine.estimate(entry, weights, request, machine)
    params_total, params_active = parameter_counts(model_input)
    warnings = list(machine.warnings if machine else []) + result.warnings
    estimate_ = Estimate(
        model=ModelRef(
            id=entry.id,
            name=entry.name,
            source=model_input.source,  # type: ignore[arg-type]
            hf_repo=entry.hf_repo,
            architecture=entry.architecture,
            params_total=params_total,
            params_active=params_active if entry.is_moe else None,
        ),
        backend=engine.name,
        quant=quant_name,
        weights_format=engine.weights_format,
        hardware=hardware_label,
        settings=result.settings,
        placement=result.placement,
        fits=result.fits,
        memory=result.memory,
        warnings=warnings,
        unknowns=result.unknowns,
    )
    if machine is not None:
        try:
            from sizer.estimate.speed import attach_throughput
        except ImportError:  # the speed model is optional until it lands
            return estimate_
        attach_throughput(estimate_, entry, weights, machine, prompt_tokens)
    return estimate_
