"""Normalize a Hugging Face ``config.json`` into a :class:`~sizer.types.ModelEntry`.

Every model family names the same facts differently (``num_local_experts`` vs ``n_routed_experts``,
``intermediate_size`` meaning the expert width in Mixtral but the dense width in DeepSeek), and leaves
some out, relying on the defaults of its ``transformers`` config class. That knowledge lives here in one
table per ``model_type`` (:data:`ARCHITECTURES`), so that supporting a new family means adding a row,
and the sizing code only ever sees the normalized record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from pydantic import ValidationError

from sizer.errors import DataFileError, UnsupportedError
from sizer.types import ModelEntry


@dataclass(frozen=True)
class Fixed:
    """A field whose value this family fixes, whatever the config says (e.g. Qwen2's q/k/v bias)."""

    value: Any


#: Where each normalized field is read from, in order of preference; a family overrides entries.
FieldSource = Union[tuple[str, ...], Fixed]  # noqa: UP007 - a runtime alias, kept 3.9-readable

DEFAULT_FIELD_SOURCES: dict[str, FieldSource] = {
    "num_layers": ("num_hidden_layers",),
    "hidden_size": ("hidden_size",),
    "intermediate_size": ("intermediate_size",),
    "num_attention_heads": ("num_attention_heads",),
    "num_kv_heads": ("num_key_value_heads",),
    "head_dim": ("head_dim",),
    "vocab_size": ("vocab_size",),
    "tie_word_embeddings": ("tie_word_embeddings",),
    "max_context": ("max_position_embeddings",),
    "attention_bias": ("attention_bias",),
    "sliding_window": ("sliding_window",),
    "num_experts": ("num_experts", "num_local_experts", "n_routed_experts"),
    "num_experts_per_token": ("num_experts_per_tok", "experts_per_token"),
    "moe_intermediate_size": ("moe_intermediate_size",),
    "num_shared_experts": ("n_shared_experts", "num_shared_experts"),
    "shared_expert_intermediate_size": ("shared_expert_intermediate_size",),
    "first_dense_layers": ("first_k_dense_replace",),
    "moe_layer_step": ("interleave_moe_layer_step", "decoder_sparse_step", "moe_layer_freq"),
    "q_lora_rank": ("q_lora_rank",),
    "kv_lora_rank": ("kv_lora_rank",),
    "qk_nope_head_dim": ("qk_nope_head_dim",),
    "qk_rope_head_dim": ("qk_rope_head_dim",),
    "v_head_dim": ("v_head_dim",),
    "attention_chunk_size": ("attention_chunk_size",),
    "mtp_layers": ("num_nextn_predict_layers",),
    "torch_dtype": ("torch_dtype", "dtype"),
}

#: Fields that are not integer counts or widths.
_NON_INTEGER_FIELDS = frozenset({"tie_word_embeddings", "attention_bias", "torch_dtype"})

#: Fields without which no estimate is possible: a config lacking one is rejected, never guessed.
REQUIRED_FIELDS = ("num_layers", "hidden_size", "num_attention_heads", "vocab_size", "intermediate_size")


# --------------------------------------------------------------------------- layer patterns

_LAYER_TYPE_LETTERS = {
    "full_attention": "F",
    "global_attention": "F",
    "sliding_attention": "S",
    "sliding_window_attention": "S",
    "local_attention": "S",
    "chunked_attention": "C",
    "linear_attention": "L",
}


def compact_pattern(letters: str) -> str | None:
    """Shortest string that, repeated cyclically from layer 0, reproduces ``letters``; None if all 'F'.

    ``ModelEntry.layer_pattern`` is read cyclically, so ``SSSSSF`` stands for Gemma 3's 5:1 layout of
    any depth; a layout with no period (e.g. a tail of different layers) keeps its full length.
    """
    if not letters or set(letters) == {"F"}:
        return None
    n = len(letters)
    for period in range(1, n + 1):
        if all(letters[i] == letters[i % period] for i in range(n)):
            return letters[:period]
    return letters  # pragma: no cover - period n always matches


def _layer_types_pattern(cfg: Mapping[str, Any], n_layers: int) -> str | None:
    """Newer configs spell out ``layer_types``; when they do, it wins over any family rule."""
    kinds = cfg.get("layer_types")
    if not isinstance(kinds, list) or not kinds:
        return None
    try:
        letters = "".join(_LAYER_TYPE_LETTERS[str(k)] for k in kinds[:n_layers])
    except KeyError as exc:
        raise UnsupportedError(f"unknown layer type {exc.args[0]!r} in config.json layer_types") from None
    return compact_pattern(letters) or "F"


def _alternating_sliding_first(cfg: Mapping[str, Any], n_layers: int) -> str | None:
    """Gemma 2 and gpt-oss: even layers sliding-window, odd layers global."""
    return "SF"


def _gemma3_pattern(cfg: Mapping[str, Any], n_layers: int) -> str | None:
    """Gemma 3: ``sliding_window_pattern`` (default 6) = that many layers per global one, last of the group."""
    period = int(cfg.get("sliding_window_pattern") or 6)
    return "S" * (period - 1) + "F"


def _uniform_sliding(cfg: Mapping[str, Any], n_layers: int) -> str | None:
    """Mistral 7B v0.1, Phi-3: one window on every layer when ``sliding_window`` is set and binds."""
    window = cfg.get("sliding_window")
    max_ctx = cfg.get("max_position_embeddings")
    if not window or (max_ctx and window >= max_ctx):
        return None
    return "S"


def _qwen_pattern(cfg: Mapping[str, Any], n_layers: int) -> str | None:
    """Qwen2/3: with ``use_sliding_window``, layers from ``max_window_layers`` on use the window."""
    if not cfg.get("use_sliding_window") or not cfg.get("sliding_window"):
        return None
    first = int(cfg.get("max_window_layers") or 0)
    return compact_pattern("F" * min(first, n_layers) + "S" * max(0, n_layers - first))


def _llama4_pattern(cfg: Mapping[str, Any], n_layers: int) -> str | None:
    """Llama 4: RoPE layers use chunked attention, every ``no_rope_layer_interval``-th (4th) is global NoPE."""
    if not cfg.get("attention_chunk_size"):
        return None
    rope_flags = cfg.get("no_rope_layers")
    if isinstance(rope_flags, list) and rope_flags:
        return compact_pattern("".join("C" if flag else "F" for flag in rope_flags[:n_layers]))
    interval = int(cfg.get("no_rope_layer_interval") or 4)
    return "C" * (interval - 1) + "F"


def _hybrid_linear_pattern(cfg: Mapping[str, Any], n_layers: int) -> str | None:
    """Qwen3-Next: every ``full_attention_interval``-th layer (4th) is full attention, the rest linear."""
    interval = int(cfg.get("full_attention_interval") or 4)
    return "L" * (interval - 1) + "F"


def _no_pattern(cfg: Mapping[str, Any], n_layers: int) -> str | None:
    return None


# --------------------------------------------------------------------------- linear-attention state


def _gated_deltanet_state_bytes(cfg: Mapping[str, Any]) -> int | None:
    """Recurrent state of one Gated DeltaNet layer (Qwen3-Next), kept in fp32 as llama.cpp does.

    Convolution state: ``(conv_kernel - 1) × (2·key_heads·key_dim + value_heads·value_dim)`` values;
    recurrent state: ``value_heads × key_dim × value_dim`` values.
    """
    try:
        kernel = int(cfg.get("linear_conv_kernel_dim", 4))
        key_dim = int(cfg["linear_key_head_dim"])
        value_dim = int(cfg["linear_value_head_dim"])
        key_heads = int(cfg["linear_num_key_heads"])
        value_heads = int(cfg["linear_num_value_heads"])
    except KeyError:
        return None
    conv = (kernel - 1) * (2 * key_heads * key_dim + value_heads * value_dim)
    recurrent = value_heads * key_dim * value_dim
    return 4 * (conv + recurrent)


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class ArchSpec:
    """What sizer knows about one Hugging Face ``model_type`` beyond the field names all share."""

    family: str
    #: Where fields differ from :data:`DEFAULT_FIELD_SOURCES` (a tuple of keys, or a Fixed value).
    fields: Mapping[str, FieldSource] = field(default_factory=dict)
    #: Values the family's transformers config class supplies when config.json omits the key.
    defaults: Mapping[str, Any] = field(default_factory=dict)
    qk_norm: bool = False
    norm_per_layer: int = 2
    expert_bias: bool = False
    #: Multimodal wrappers: the text model's config is nested under ``text_config`` of this type.
    text_model_type: str | None = None
    layer_pattern: Callable[[Mapping[str, Any], int], str | None] = _no_pattern
    linear_state: Callable[[Mapping[str, Any]], int | None] | None = None


_LLAMA_DEFAULTS = {"tie_word_embeddings": False, "max_context": 2048, "attention_bias": False}
_QWEN_DEFAULTS = {"tie_word_embeddings": False, "max_context": 32768}

ARCHITECTURES: dict[str, ArchSpec] = {
    # transformers LlamaConfig: attention_bias False, tie False, max_position_embeddings 2048.
    "llama": ArchSpec(family="llama", defaults=_LLAMA_DEFAULTS),
    # MistralConfig: a sliding window on every layer when set (7B v0.1: 4096; v0.3 / Nemo / Small: null).
    "mistral": ArchSpec(
        family="mistral",
        fields={"attention_bias": Fixed(False)},
        defaults={"tie_word_embeddings": False, "max_context": 32768},
        layer_pattern=_uniform_sliding,
    ),
    # Qwen2: bias on q/k/v always (no config key); sliding window only with use_sliding_window.
    "qwen2": ArchSpec(
        family="qwen",
        fields={"attention_bias": Fixed(True)},
        defaults=_QWEN_DEFAULTS,
        layer_pattern=_qwen_pattern,
    ),
    # Qwen3: per-head q/k RMSNorm, explicit head_dim (128 in every size).
    "qwen3": ArchSpec(
        family="qwen",
        defaults={**_QWEN_DEFAULTS, "head_dim": 128, "attention_bias": False},
        qk_norm=True,
        layer_pattern=_qwen_pattern,
    ),
    "qwen3_moe": ArchSpec(
        family="qwen",
        defaults={**_QWEN_DEFAULTS, "head_dim": 128, "attention_bias": False, "moe_layer_step": 1},
        qk_norm=True,
        layer_pattern=_qwen_pattern,
    ),
    # Qwen3-Next: hybrid Gated DeltaNet (linear) + gated full attention, MoE with one shared expert.
    "qwen3_next": ArchSpec(
        family="qwen",
        fields={"num_shared_experts": Fixed(1)},
        defaults={**_QWEN_DEFAULTS, "head_dim": 256, "attention_bias": False, "moe_layer_step": 1},
        qk_norm=True,
        layer_pattern=_hybrid_linear_pattern,
        linear_state=_gated_deltanet_state_bytes,
    ),
    # Gemma 2: tied embeddings, head_dim 256 by default, pre+post norms around attention and MLP (4/layer).
    "gemma2": ArchSpec(
        family="gemma",
        defaults={"tie_word_embeddings": True, "head_dim": 256, "max_context": 8192, "attention_bias": False},
        norm_per_layer=4,
        layer_pattern=_alternating_sliding_first,
    ),
    "gemma3_text": ArchSpec(
        family="gemma",
        defaults={"tie_word_embeddings": True, "head_dim": 256, "max_context": 131072, "attention_bias": False},
        qk_norm=True,
        norm_per_layer=4,
        layer_pattern=_gemma3_pattern,
    ),
    "gemma3": ArchSpec(family="gemma", text_model_type="gemma3_text"),
    # Phi-3 / Phi-4 (Phi3ForCausalLM): fused qkv and gate_up projections (same parameter count).
    "phi3": ArchSpec(
        family="phi",
        fields={"attention_bias": Fixed(False)},
        defaults={"tie_word_embeddings": False, "max_context": 4096},
        layer_pattern=_uniform_sliding,
    ),
    # Mixtral: intermediate_size is the width of each expert; there is no dense MLP.
    "mixtral": ArchSpec(
        family="mistral",
        fields={
            "moe_intermediate_size": ("intermediate_size",),
            "intermediate_size": Fixed(0),
            "attention_bias": Fixed(False),
        },
        defaults={"tie_word_embeddings": False, "max_context": 32768, "num_experts": 8, "num_experts_per_token": 2},
        layer_pattern=_uniform_sliding,
    ),
    # DeepSeek-V3 / R1: MLA attention, first_k_dense_replace dense layers, then 256 routed + 1 shared.
    "deepseek_v3": ArchSpec(
        family="deepseek",
        fields={"attention_bias": Fixed(False)},
        defaults={
            "tie_word_embeddings": False,
            "max_context": 4096,
            "num_shared_experts": 1,
            "first_dense_layers": 3,
            "moe_layer_step": 1,
            "mtp_layers": 0,
        },
    ),
    # gpt-oss: bias on every attention projection and on the experts; intermediate_size = expert width.
    "gpt_oss": ArchSpec(
        family="gpt-oss",
        fields={
            "moe_intermediate_size": ("intermediate_size",),
            "intermediate_size": Fixed(0),
            "attention_bias": Fixed(True),
        },
        defaults={"tie_word_embeddings": False, "head_dim": 64, "max_context": 131072},
        expert_bias=True,
        layer_pattern=_alternating_sliding_first,
    ),
    # Llama 4: intermediate_size is the expert width, intermediate_size_mlp the dense MLP; one shared expert.
    "llama4_text": ArchSpec(
        family="llama",
        fields={
            "moe_intermediate_size": ("intermediate_size",),
            "intermediate_size": ("intermediate_size_mlp", "intermediate_size"),
            "num_shared_experts": Fixed(1),
            "attention_bias": Fixed(False),
        },
        defaults={"tie_word_embeddings": False, "max_context": 131072, "moe_layer_step": 1},
        layer_pattern=_llama4_pattern,
    ),
    "llama4": ArchSpec(family="llama", text_model_type="llama4_text"),
    # Mistral Small 3.1+ (vision wrapper around a Mistral text model).
    "mistral3": ArchSpec(family="mistral", text_model_type="mistral"),
}

#: Configs copied without ``model_type`` still name their class in ``architectures``.
ARCHITECTURE_CLASSES: dict[str, str] = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "Qwen2ForCausalLM": "qwen2",
    "Qwen3ForCausalLM": "qwen3",
    "Qwen3MoeForCausalLM": "qwen3_moe",
    "Qwen3NextForCausalLM": "qwen3_next",
    "Gemma2ForCausalLM": "gemma2",
    "Gemma3ForCausalLM": "gemma3_text",
    "Gemma3ForConditionalGeneration": "gemma3",
    "Phi3ForCausalLM": "phi3",
    "MixtralForCausalLM": "mixtral",
    "DeepseekV3ForCausalLM": "deepseek_v3",
    "GptOssForCausalLM": "gpt_oss",
    "Llama4ForCausalLM": "llama4_text",
    "Llama4ForConditionalGeneration": "llama4",
    "Mistral3ForConditionalGeneration": "mistral3",
}

#: Keys a multimodal wrapper keeps at its top level that apply to the text model too.
_WRAPPER_INHERITED_KEYS = ("tie_word_embeddings", "torch_dtype", "dtype", "quantization_config")


def supported_model_types() -> list[str]:
    """The ``model_type`` values sizer can normalize, sorted."""
    return sorted(ARCHITECTURES)


# --------------------------------------------------------------------------- reading


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a ``config.json`` file, or the ``config.json`` inside a model folder."""
    path = Path(path)
    file = path / "config.json" if path.is_dir() else path
    if not file.exists():
        where = f"{path}: no config.json in this folder" if path.is_dir() else f"{file}: no such file"
        raise DataFileError(where)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{file}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{file}: cannot be read ({exc})") from None
    if not isinstance(data, dict):
        raise DataFileError(f"{file}: expected a JSON object, found {type(data).__name__}")
    return data


def _model_type(config: Mapping[str, Any], source: str) -> str:
    model_type = config.get("model_type")
    if model_type is not None and not isinstance(model_type, str):
        raise DataFileError(f"{source}: model_type must be a string, found {type(model_type).__name__}")
    architectures = config.get("architectures")
    if architectures is not None and not (isinstance(architectures, list) and all(isinstance(a, str) for a in architectures)):
        raise DataFileError(f"{source}: architectures must be a list of strings")
    if not model_type:
        for cls in config.get("architectures") or ():
            if cls in ARCHITECTURE_CLASSES:
                return ARCHITECTURE_CLASSES[cls]
        raise UnsupportedError(
            f"{source}: no model_type (and no known architectures class); supported model types: "
            + ", ".join(supported_model_types())
        )
    if model_type not in ARCHITECTURES:
        raise UnsupportedError(
            f"{source}: model_type {model_type!r} is not supported; supported model types: "
            + ", ".join(supported_model_types())
        )
    return str(model_type)


def _text_config(config: Mapping[str, Any], model_type: str) -> tuple[dict[str, Any], str]:
    """Unwrap a multimodal config to its text model; top-level keys the text model shares are kept."""
    spec = ARCHITECTURES[model_type]
    if spec.text_model_type is None:
        return dict(config), model_type
    inner = config.get("text_config")
    if not isinstance(inner, dict):
        # Some exports flatten the text model into the top level.
        return dict(config), spec.text_model_type
    merged = {k: config[k] for k in _WRAPPER_INHERITED_KEYS if k in config}
    merged.update(inner)
    inner_type = inner.get("model_type")
    return merged, str(inner_type) if inner_type in ARCHITECTURES else spec.text_model_type


def _read(cfg: Mapping[str, Any], source: FieldSource) -> Any:
    if isinstance(source, Fixed):
        return source.value
    for key in source:
        if cfg.get(key) is not None:
            return cfg[key]
    return None


def model_entry_from_config(
    config: Mapping[str, Any],
    *,
    id: str = "custom",
    name: str | None = None,
    hf_repo: str = "local",
    source: str = "config.json",
) -> ModelEntry:
    """Normalize a Hugging Face ``config.json`` (already parsed) into a ModelEntry.

    Missing architecture-defining fields raise :class:`DataFileError` naming the field; a family sizer
    does not know raises :class:`UnsupportedError` listing the ones it does; a field of the wrong
    type or range (a string layer count, a negative width) is a DataFileError naming it.
    """
    try:
        return _model_entry_from_config(config, id=id, name=name, hf_repo=hf_repo, source=source)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "config"
        raise DataFileError(f"{source}: {field}: {first['msg']}") from None
    except (TypeError, ValueError, ArithmeticError, OverflowError) as exc:
        raise DataFileError(f"{source}: a field has the wrong type or value ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None


def _check_field_types(values: dict[str, Any], source: str) -> None:
    """Integers where integers belong (JSON true/false and floats are not layer counts)."""
    for field_name, value in values.items():
        if value is None or field_name in _NON_INTEGER_FIELDS:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise DataFileError(f"{source}: {field_name} must be an integer, found {value!r:.40}")
        if value < 0:
            raise DataFileError(f"{source}: {field_name} must not be negative, found {value}")


def _model_entry_from_config(
    config: Mapping[str, Any],
    *,
    id: str,
    name: str | None,
    hf_repo: str,
    source: str,
) -> ModelEntry:
    if not isinstance(config, Mapping):
        raise DataFileError(f"{source}: expected a JSON object")
    model_type = _model_type(config, source)
    cfg, model_type = _text_config(config, model_type)
    spec = ARCHITECTURES[model_type]

    values: dict[str, Any] = {}
    for target, default_source in DEFAULT_FIELD_SOURCES.items():
        value = _read(cfg, spec.fields.get(target, default_source))
        if value is None:
            value = spec.defaults.get(target)
        values[target] = value

    _check_field_types(values, source)
    missing = [f for f in REQUIRED_FIELDS if values[f] is None]
    if missing:
        raw = {"num_layers": "num_hidden_layers", "max_context": "max_position_embeddings"}
        raise DataFileError(f"{source}: missing {', '.join(raw.get(f, f) for f in missing)}")

    n_layers = int(values["num_layers"])
    heads = int(values["num_attention_heads"])
    if values["num_kv_heads"] is None:
        values["num_kv_heads"] = heads  # transformers: absent num_key_value_heads means multi-head attention
    if values["kv_lora_rank"] is not None and values["head_dim"] is None:
        # MLA: the query/key head is the no-RoPE part plus the RoPE part.
        values["head_dim"] = int(values["qk_nope_head_dim"] or 0) + int(values["qk_rope_head_dim"] or 0)
    if values["head_dim"] is None:
        values["head_dim"] = int(values["hidden_size"]) // heads
    if values["max_context"] is None:
        values["max_context"] = 2048

    num_experts = values["num_experts"]
    is_moe = bool(num_experts) and int(num_experts) > 1
    if not is_moe:
        for key in ("num_experts", "num_experts_per_token", "moe_intermediate_size",
                    "shared_expert_intermediate_size"):
            values[key] = None
        values["num_shared_experts"] = 0
        values["first_dense_layers"] = 0
        values["moe_layer_step"] = 1
    elif values["moe_intermediate_size"] is None:
        raise DataFileError(f"{source}: missing moe_intermediate_size")

    pattern = _layer_types_pattern(cfg, n_layers)
    if pattern is None:
        pattern = spec.layer_pattern(cfg, n_layers)
    if pattern == "F":
        pattern = None
    if pattern and "S" in pattern and not values["sliding_window"]:
        raise DataFileError(f"{source}: sliding-window layers but no sliding_window")
    if not (pattern and "S" in pattern):
        values["sliding_window"] = None
    if not (pattern and "C" in pattern):
        values["attention_chunk_size"] = None

    quant = cfg.get("quantization_config")
    native_quant = None
    if isinstance(quant, Mapping) and quant.get("quant_method"):
        native_quant = str(quant["quant_method"]).lower()

    torch_dtype = values.pop("torch_dtype")
    entry: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
    entry.update(
        id=id,
        name=name or str(config.get("_name_or_path") or id),
        family=spec.family,
        hf_repo=hf_repo,
        architecture=model_type,
        qk_norm=spec.qk_norm,
        norm_per_layer=spec.norm_per_layer,
        expert_bias=spec.expert_bias and is_moe,
        layer_pattern=pattern,
        native_quant=native_quant,
        source=source,
        tie_word_embeddings=bool(values["tie_word_embeddings"]),
        attention_bias=bool(values["attention_bias"]),
    )
    if torch_dtype is not None:
        entry["torch_dtype"] = str(torch_dtype)
    if spec.linear_state is not None:
        entry["linear_state_bytes_per_layer"] = spec.linear_state(cfg)
    try:
        return ModelEntry(**entry)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "config"
        raise DataFileError(f"{source}: {where}: {first.get('msg')}") from None
