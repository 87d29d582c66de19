"""sizer's page: what fits on this hardware, why, and the deployment to take away.

Run it with ``streamlit run app.py``.  The page holds no sizing logic of its own: every figure
comes from sizer's Python API (``estimate``, ``recommend``, ``plan``, ``deploy``) — the same calls
the CLI makes.  What lives here is input handling (widgets, uploads, validation), caching, and
drawing the API's results.

The helpers above ``main()`` do not touch Streamlit's page and are tested directly
(``tests/app/test_app.py``); ``main()`` draws the page and runs only under ``streamlit run``
(or Streamlit's ``AppTest``), so ``import app`` is cheap and silent.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import altair as alt
import pandas as pd
import streamlit as st

from sizer import catalog
from sizer.errors import InvalidInputError, SizerError
from sizer.estimate.api import ModelInput, catalog_parameter_counts, estimate, resolve_model
from sizer.estimate.result import Estimate
from sizer.hardware_spec import parse_hardware_spec
from sizer.recommend import ladder_columns, recommend
from sizer.recommend.plan import plan as plan_hardware
from sizer.recommend.result import HardwarePlan, Option, Recommendation
from sizer.types import Accelerator, Cpu, HardwareEntry, Host, Machine, ModelEntry, SystemMemory

GIB = 2**30
MB = 1024 * 1024

# Uploads.  Only a GGUF file's header is read (metadata and tensor list, a few MB even with a
# 256k-token vocabulary), so the page takes the first megabytes of a file, not the file.
GGUF_UPLOAD_CAP_MB = 32
CONFIG_UPLOAD_CAP_MB = 1

DEFAULT_MODEL = "llama-3.1-8b-instruct"
DEFAULT_GPU = "rtx-4090"
DEFAULT_APPLE = "m4-max-40c"
DEFAULT_CPU = "cpu-ddr5-5600-2ch"
DEFAULT_CTX = 8192
ENGINES = ("llama.cpp", "ollama", "vllm", "tgi")
PRIORITIES = ("quality", "balanced", "speed")

HW_SOURCES = ("This machine", "Catalog", "Custom machine", "Spec")
HW_KINDS = ("Single GPU", "Several GPUs", "Apple Silicon", "CPU only")
MODEL_SOURCES = ("Catalog", "config.json upload", "GGUF upload")
SIZE_STEPS_B = (0, 1, 2, 4, 8, 16, 32, 80, 150, 300, 700)

# What the heat map says about one model × quantization on the chosen hardware.
FITS_GPU = "fits on GPU"
PARTIAL = "partial offload"
CPU_ONLY = "CPU only"
NO_FIT = "does not fit"
FIT_UNKNOWN = "fit unknown"
CANNOT_RUN = "cannot run"
STATUS_ORDER = (FITS_GPU, PARTIAL, CPU_ONLY, NO_FIT, FIT_UNKNOWN, CANNOT_RUN)
STATUS_COLORS = ("#2f9e44", "#f59f00", "#4c6ef5", "#e03131", "#adb5bd", "#e9ecef")
TERM_ORDER = ("weights", "KV cache", "compute buffers", "overhead")
TERM_COLORS = ("#4c6ef5", "#f59f00", "#12b886", "#868e96")

ARTIFACT_LANGUAGES = {"sh": "bash", "yaml": "yaml", "python": "python", "modelfile": "dockerfile", "dotenv": "bash", "json": "json"}


# --------------------------------------------------------------------------- plain helpers (tested directly)


def gib(value: Optional[float]) -> str:
    return "?" if value is None else f"{value / GIB:.1f} GiB"


def speed_text(value: Optional[float]) -> str:
    return "?" if value is None else f"{value:.0f} tok/s" if value >= 9.95 else f"{value:.1f} tok/s"


def debug() -> bool:
    return bool(os.environ.get("SIZER_DEBUG"))


def hardware_spec_for(kind: str, *, entry_id: str, count: int = 1, memory_gb: Optional[float] = None) -> str:
    """The `--hardware` spec of a catalog pick (the same grammar the CLI takes)."""
    size = f"@{memory_gb:g}" if memory_gb else ""
    if kind == "Several GPUs":
        return f"{count}x{entry_id}{size}"
    return f"{entry_id}{size}"


def check_typed_spec(text: str) -> str:
    """A spec typed on the page: the CLI's grammar, but never a path (the page does not read the server's files)."""
    spec = text.strip()
    if not spec:
        raise InvalidInputError("type a hardware spec, e.g. rtx-4090@64, 2xrtx-3090@128, m2-max-38c@64 or cpu@64")
    if re.search(r"[/\\~]", spec) or spec.lower().endswith(".json") or Path(spec).exists():
        raise InvalidInputError(
            f"'{spec}' looks like a file: the page reads no files from the server; describe the machine under Custom machine"
        )
    return spec


def custom_machine(
    *,
    gpus: int,
    vram_gb: float,
    bandwidth_gb_s: float,
    ram_gb: float,
    vendor: str = "nvidia",
    fp16_tflops: Optional[float] = None,
    ram_bandwidth_gb_s: Optional[float] = None,
) -> Machine:
    """A machine the user describes: GPU count, VRAM and bandwidth per GPU, system RAM."""
    if not 0 <= gpus <= 64:
        raise InvalidInputError(f"GPU count must be between 0 and 64, got {gpus}")
    if gpus and not 0 < vram_gb <= 4096:
        raise InvalidInputError(f"VRAM per GPU must be between 0 and 4096 GB, got {vram_gb:g}")
    if gpus and not 0 < bandwidth_gb_s <= 100_000:
        raise InvalidInputError(f"GPU memory bandwidth must be between 0 and 100,000 GB/s, got {bandwidth_gb_s:g}")
    if not 0 < ram_gb <= 65536:
        raise InvalidInputError(f"system RAM must be between 0 and 65,536 GB, got {ram_gb:g}")
    ram = int(ram_gb * GIB)
    accelerators = [
        Accelerator(
            index=i,
            vendor=vendor,  # type: ignore[arg-type]
            name=f"Custom GPU ({vram_gb:g} GB)",
            memory_total_bytes=int(vram_gb * GIB),
            memory_free_bytes=int(vram_gb * GIB),
            memory_bandwidth_gb_s=bandwidth_gb_s,
            fp16_tflops=fp16_tflops or None,
            bf16_tflops=fp16_tflops or None,
            unknown=[] if fp16_tflops else ["fp16_tflops: not given (prefill speed is not estimated)"],
        )
        for i in range(gpus)
    ]
    memory = SystemMemory(
        total_bytes=ram,
        available_bytes=ram,
        bandwidth_gb_s=ram_bandwidth_gb_s or None,
        bandwidth_source="user" if ram_bandwidth_gb_s else None,
    )
    label = f"{gpus} × {vram_gb:g} GB GPU" if gpus > 1 else (f"{vram_gb:g} GB GPU" if gpus else "CPU only")
    return Machine(name=f"custom: {label}, {ram_gb:g} GB RAM", hosts=[Host(cpu=Cpu(), memory=memory, accelerators=accelerators)])


def detection_gaps(machine: Machine) -> list[str]:
    """What detection could not see, in plain words (the API's own warnings and unknowns, plus empty fields)."""
    gaps = list(machine.warnings)
    for host in machine.hosts:
        cpu, memory = host.cpu, host.memory
        if not cpu.brand:
            gaps.append("CPU model: not reported")
        if not cpu.physical_cores:
            gaps.append("CPU core count: not reported")
        if memory.usable_bytes is None:
            gaps.append("system RAM size: not reported (offloading and CPU-only fits cannot be judged)")
        if memory.bandwidth_gb_s is None:
            gaps.append("system RAM bandwidth: not measured (CPU and offload speeds use an assumed figure, named under Why)")
        if not host.accelerators:
            gaps.append("no GPU found (looked for NVIDIA through NVML, Apple Silicon through sysctl, AMD through amd-smi)")
        for accelerator in host.accelerators:
            for item in accelerator.unknown:
                gaps.append(f"GPU {accelerator.index} ({accelerator.name}): {item}")
            if accelerator.catalog_id is None:
                gaps.append(f"GPU {accelerator.index} ({accelerator.name}): not in the hardware catalog (no catalog figures)")
    return list(dict.fromkeys(gaps))


def _safe_name(name: str, default: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(name).name).strip("-.")
    return stem[:80] or default


def save_upload(kind: str, file_name: str, data: bytes, folder: Path) -> Path:
    """Check an uploaded config.json or GGUF header and write it where `resolve_model` can read it.

    ``kind`` is "config.json" or "gguf".  Uploads are content-addressed under ``folder`` (the same
    bytes twice are one file).  Raises :class:`InvalidInputError` with a one-line reason.
    """
    cap_mb = GGUF_UPLOAD_CAP_MB if kind == "gguf" else CONFIG_UPLOAD_CAP_MB
    if not data:
        raise InvalidInputError(f"{file_name}: the file is empty")
    if len(data) > cap_mb * MB:
        hint = (
            f"; only the header is read, so upload the start of the file: head -c {cap_mb}M model.gguf > header.gguf"
            if kind == "gguf"
            else ""
        )
        raise InvalidInputError(f"{file_name} is {len(data) / MB:.1f} MB, more than the {cap_mb} MB this upload takes{hint}")
    digest = hashlib.sha256(data).hexdigest()[:16]
    if kind == "gguf":
        if data[:4] != b"GGUF":
            raise InvalidInputError(f"{file_name}: not a GGUF file (it does not start with the GGUF magic bytes)")
        name = _safe_name(file_name, "model.gguf")
        if not name.lower().endswith(".gguf"):
            name += ".gguf"
        path = folder / digest / name
    else:
        if data[:4] == b"GGUF":
            raise InvalidInputError(f"{file_name} is a GGUF file: upload it as a GGUF file, not as a config.json")
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise InvalidInputError(f"{file_name}: not valid JSON{where}") from None
        if not isinstance(document, dict):
            raise InvalidInputError(f"{file_name}: a config.json holds a JSON object, not a {type(document).__name__}")
        stem = Path(file_name).stem
        label = _safe_name(stem, "uploaded-model") if stem.lower() not in ("config", "") else "uploaded-model"
        path = folder / digest / label / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    return path


def load_upload(kind: str, file_name: str, data: bytes, folder: Path) -> tuple[Path, ModelInput]:
    """An uploaded model, saved and read by sizer (`resolve_model`); any problem is a SizerError."""
    path = save_upload(kind, file_name, data, folder)
    model_input = resolve_model(str(path))
    expected = "gguf" if kind == "gguf" else "config.json"
    if model_input.source != expected:
        raise InvalidInputError(f"{file_name}: read as a {model_input.source}, not as a {expected}")
    return path, model_input


def fit_status(result: Estimate) -> str:
    """The heat map's category of one estimate: where the engine puts it, or that it does not fit."""
    if result.fits is False:
        return NO_FIT
    if result.fits is None:
        return FIT_UNKNOWN
    if result.placement == "partial-offload":
        return PARTIAL
    if result.placement == "cpu":
        return CPU_ONLY
    return FITS_GPU


def quant_columns(engine: str, models: list[ModelEntry]) -> list[str]:
    """Heat map columns: the quantizations the recommender walks for this engine (16-bit GGUF first)."""
    return ladder_columns(engine, models)


def option_label(option: Option, users: int) -> str:
    speed = option.throughput.per_user_tokens_per_s if users > 1 else option.throughput.decode_tokens_per_s
    return f"#{option.rank} {option.backend} · {option.quant} · {option.placement} · {speed_text(speed)}"


def billions(model_id: str) -> float:
    return catalog_parameter_counts(model_id)[0] / 1e9


def filter_models(entries: list[ModelEntry], search: str, family: str, size_range: tuple[float, float]) -> list[ModelEntry]:
    text = search.strip().lower()
    low, high = size_range
    chosen = []
    for entry in entries:
        if family != "All families" and entry.family != family:
            continue
        if text and not any(text in field.lower() for field in (entry.id, entry.name, entry.hf_repo, *entry.aliases)):
            continue
        size = billions(entry.id)
        if not (low <= size <= (high if high < SIZE_STEPS_B[-1] else float("inf"))):
            continue
        chosen.append(entry)
    return sorted(chosen, key=lambda e: (billions(e.id), e.id))


def estimate_rows(result: Estimate) -> pd.DataFrame:
    """Memory terms per device (long form) for the stacked bar."""
    rows = []
    for device in result.memory.devices:
        label = device.device + (f" · {device.name}" if device.name else "")
        for term, value in zip(TERM_ORDER, (device.weights_bytes, device.kv_cache_bytes, device.compute_bytes, device.overhead_bytes)):
            rows.append({"device": label, "term": term, "GiB": value / GIB, "order": TERM_ORDER.index(term)})
    return pd.DataFrame(rows)


def capacity_rows(result: Estimate) -> pd.DataFrame:
    rows = []
    for device in result.memory.devices:
        label = device.device + (f" · {device.name}" if device.name else "")
        if device.capacity_bytes is not None:
            rows.append({
                "device": label,
                "capacity GiB": device.capacity_bytes / GIB,
                "used GiB": device.total_bytes / GIB,
                "headroom GiB": (device.headroom_bytes or 0) / GIB,
                "label": f"capacity {device.capacity_bytes / GIB:.1f} GiB · headroom {(device.headroom_bytes or 0) / GIB:.1f} GiB",
            })
    return pd.DataFrame(rows)


def context_points(max_context: int, workload_ctx: int) -> list[int]:
    """Context lengths for the memory/speed line chart: powers of two up to the model's limit, plus the workload's."""
    top = min(max(max_context, workload_ctx), 1 << 20)
    points = {workload_ctx}
    value = 1024
    while value <= top:
        points.add(value)
        value *= 2
    return sorted(p for p in points if p <= max(top, workload_ctx))


def artifacts_zip(artifacts: list, plan_json: str) -> bytes:
    """Every generated file, and the plan's JSON, in one zip (scripts keep their executable bit)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for artifact in artifacts:
            info = zipfile.ZipInfo(artifact.filename)
            info.external_attr = (0o755 if artifact.filename.endswith(".sh") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, artifact.content)
        archive.writestr("sizer-plan.json", plan_json)
    return buffer.getvalue()


def deploy_function() -> Optional[Callable[..., Any]]:
    """`sizer.deploy.deploy` when this sizer has it, else None."""
    try:
        import sizer.deploy as deploy_module
    except ImportError:
        return None
    return getattr(deploy_module, "deploy", None)


# --------------------------------------------------------------------------- cached API calls


@st.cache_resource(show_spinner=False)
def hardware_catalog() -> list[HardwareEntry]:
    return catalog.hardware_entries()


@st.cache_resource(show_spinner=False)
def model_catalog() -> list[ModelEntry]:
    entries = catalog.model_entries()
    for entry in entries:  # warm the parameter counts the size filter reads
        catalog_parameter_counts(entry.id)
    return entries


@st.cache_resource(show_spinner="Detecting this machine…")
def detected_machine() -> Machine:
    from sizer.detect import detect_machine

    return detect_machine()


@st.cache_resource(show_spinner=False)
def upload_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="sizer-app-uploads-"))


@st.cache_resource(show_spinner=False, max_entries=64)
def machine_for(hw_key: str) -> Machine:
    """The Machine of a hardware key: 'spec:<spec>' or 'json:<Machine JSON>' (a custom or detected machine)."""
    kind, _, value = hw_key.partition(":")
    if kind == "spec":
        return parse_hardware_spec(value)
    return Machine.model_validate_json(value)


@st.cache_resource(show_spinner=False, max_entries=64)
def model_input_for(model_key: str) -> ModelInput:
    """'catalog:<id>' or 'file:<path of a saved upload>'."""
    kind, _, value = model_key.partition(":")
    if kind == "catalog":
        return ModelInput(catalog.get_model(value), "catalog")
    return resolve_model(value)


def _model_arg(model_key: str) -> str:
    """What recommend()/plan() take: a catalog id or the saved upload's path."""
    return model_key.partition(":")[2]


@st.cache_data(show_spinner=False, max_entries=256)
def cached_estimate(model_key: str, hw_key: str, backend: str, quant: Optional[str], ctx: int, users: int,
                    kv_type: Optional[str] = None, kv_type_v: Optional[str] = None, flash_attn: Optional[bool] = None,
                    prompt_tokens: int = 512) -> Estimate:
    return estimate(model_input_for(model_key), quant=quant, backend=backend, hardware=machine_for(hw_key), ctx=ctx,  # type: ignore[arg-type]
                    parallel=users, kv_type=kv_type, kv_type_v=kv_type_v, flash_attn=flash_attn, prompt_tokens=prompt_tokens)


@st.cache_data(show_spinner=False, max_entries=64)
def fit_grid(model_keys: tuple[str, ...], hw_key: str, backend: str, ctx: int, users: int) -> pd.DataFrame:
    """One estimate per model × quantization (the heat map's cells)."""
    machine = machine_for(hw_key)
    inputs = [model_input_for(key) for key in model_keys]
    columns = quant_columns(backend, [i.entry for i in inputs])
    for model_input in inputs:  # an uploaded GGUF file has one quantization: its own
        file_type = model_input.gguf.file_type if model_input.gguf is not None else None
        if file_type and backend in ("llama.cpp", "ollama") and file_type.upper() not in (c.upper() for c in columns):
            columns.append(file_type)
    rows = []
    for key, model_input in zip(model_keys, inputs):
        entry = model_input.entry
        label = ("⬆ " if model_input.source != "catalog" else "") + entry.name
        for quant in columns:
            if quant.upper().startswith("MXFP4") and entry.native_quant != "mxfp4":
                continue  # MXFP4 is how gpt-oss ships; other models are not published in it
            cell = {"model": label, "model_key": key, "quant": quant, "speed": None, "text": "", "memory": None,
                    "placement": None, "detail": ""}
            try:
                if model_input.gguf is not None and quant.upper() != (model_input.gguf.file_type or "").upper():
                    raise InvalidInputError(f"the uploaded file is {model_input.gguf.file_type}")
                result = estimate(model_input, quant=quant, backend=backend, hardware=machine, ctx=ctx, parallel=users)  # type: ignore[arg-type]
            except SizerError as exc:
                cell.update(status=CANNOT_RUN, detail=str(exc))
            except Exception as exc:  # noqa: BLE001 - one cell sizer cannot size must not take the heat map down
                cell.update(status=CANNOT_RUN, detail=f"sizer failed here: {type(exc).__name__}: {exc}")
            else:
                speed = result.throughput.decode_tokens_per_s if result.throughput else None
                status = fit_status(result)
                cell.update(status=status, speed=speed, memory=round(result.memory.total_bytes / GIB, 1),
                            placement=result.placement or "",
                            text="" if status in (NO_FIT, CANNOT_RUN) or speed is None else speed_text(speed).split()[0],
                            detail="; ".join(result.warnings[:2]))
            rows.append(cell)
    return pd.DataFrame(rows)


@st.cache_data(show_spinner=False, max_entries=64)
def cached_recommendation(model_key: Optional[str], hw_key: str, ctx: int, users: int, prefer: str) -> Recommendation:
    models = [_model_arg(model_key)] if model_key else None
    return recommend(models, hardware=machine_for(hw_key), ctx=ctx, users=users, prefer=prefer, top=None if models else 3)  # type: ignore[arg-type]


@st.cache_data(show_spinner=False, max_entries=64)
def context_sweep(model_key: str, hw_key: str, backend: str, quant: str, users: int, kv_type: Optional[str],
                  kv_type_v: Optional[str], flash_attn: Optional[bool], workload_ctx: int) -> pd.DataFrame:
    """Memory and decode speed of one plan at growing context lengths (decode measured at a full context)."""
    entry = model_input_for(model_key).entry
    rows = []
    for ctx in context_points(entry.max_context, workload_ctx):
        try:
            result = cached_estimate(model_key, hw_key, backend, quant, ctx, users, kv_type, kv_type_v, flash_attn, prompt_tokens=ctx)
        except SizerError:
            continue
        capacity = sum(d.capacity_bytes or 0 for d in result.memory.devices if d.kind != "cpu")
        if not capacity:
            capacity = sum(d.capacity_bytes or 0 for d in result.memory.devices)
        rows.append({
            "context": ctx,
            "total GiB": result.memory.total_bytes / GIB,
            "KV cache GiB": result.memory.kv_cache_bytes / GIB,
            "capacity GiB": capacity / GIB if capacity else None,
            "decode tok/s": result.throughput.decode_tokens_per_s if result.throughput else None,
            "status": fit_status(result),
        })
    return pd.DataFrame(rows)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_plan(model_id: str, ctx: int, users: int, tokens_per_s: Optional[float], api_price: Optional[float],
                monthly_tokens: Optional[float], months: int, kwh: float, utilization: float, kinds: tuple[str, ...]) -> HardwarePlan:
    return plan_hardware(model_id, ctx=ctx, users=users, tokens_per_s=tokens_per_s, api_price_per_mtok=api_price,
                         monthly_tokens=monthly_tokens, amortization_months=months, kwh_price=kwh, utilization=utilization,
                         kinds=set(kinds) or None, top=15)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_deployment(model_key: str, hw_key: str, backend: str, quant: str, ctx: int, users: int, kv_type: Optional[str],
                      kv_type_v: Optional[str], flash_attn: Optional[bool], options: tuple[tuple[str, Any], ...] = ()):
    """`sizer.deploy.deploy` of the plan in focus (None when this sizer has no deploy)."""
    deploy = deploy_function()
    if deploy is None:
        return None
    result = cached_estimate(model_key, hw_key, backend, quant, ctx, users, kv_type, kv_type_v, flash_attn)
    return deploy(result, machine_for(hw_key), formats={"commands", "modelfile", "compose", "kubernetes"}, **dict(options))


# --------------------------------------------------------------------------- page sections


def report(exc: BaseException) -> None:
    """An error on the page: one line for what the user typed, a short note (traceback with SIZER_DEBUG) otherwise."""
    if isinstance(exc, SizerError):
        st.error(str(exc))
    else:
        st.error(f"Something went wrong inside sizer: {type(exc).__name__}: {exc}. Set SIZER_DEBUG=1 to see the traceback.")
        if debug():
            st.exception(exc)


@dataclass
class Choice:
    """The inputs of the page, as keys the cached calls take."""

    hw_key: Optional[str] = None
    hw_label: str = ""
    model_key: Optional[str] = None
    model_entry: Optional[ModelEntry] = None
    rows: tuple[str, ...] = ()
    ctx: int = DEFAULT_CTX
    users: int = 1
    prefer: str = "balanced"


def _default_state(key: str, value: Any, allowed: Optional[list] = None) -> None:
    """Give a keyed widget a value before it is drawn (and a valid one when its options change)."""
    if key not in st.session_state or (allowed is not None and st.session_state[key] not in allowed):
        st.session_state[key] = value


def hardware_inputs(choice: Choice) -> None:
    st.header("1 · Hardware")
    source = st.radio("Hardware", HW_SOURCES, key="hw_source", horizontal=True, label_visibility="collapsed")
    if source == "This machine":
        machine = detected_machine()
        # Keyed by what was detected, so "Detect again" cannot serve results cached for the old detection.
        choice.hw_key, choice.hw_label = "json:" + machine.model_dump_json(), "this machine"
        host = machine.hosts[0]
        gpus = ", ".join(f"{a.name} ({gib(a.memory_total_bytes)})" for a in host.accelerators) or "no GPU"
        st.markdown(
            f"**{host.cpu.brand or 'CPU'}** · {host.cpu.physical_cores or '?'} cores · "
            f"{gib(host.memory.usable_bytes)} RAM · {gpus}"
        )
        gaps = detection_gaps(machine)
        if gaps:
            st.caption("Detection could not see:")
            st.markdown("\n".join(f"- {gap}" for gap in gaps))
        if st.button("Detect again", key="redetect"):
            detected_machine.clear()
            machine_for.clear()
            st.rerun()
        return
    if source == "Catalog":
        kind = st.radio("Kind", HW_KINDS, key="hw_kind", horizontal=True)
        entries = hardware_catalog()
        if kind in ("Single GPU", "Several GPUs"):
            gpus = sorted((e for e in entries if e.kind == "gpu"), key=lambda e: (e.vendor, -(e.memory_gib or 0), e.name))
            ids = [e.id for e in gpus]
            by_id = {e.id: e for e in gpus}
            _default_state("gpu", DEFAULT_GPU if DEFAULT_GPU in ids else ids[0], ids)
            gpu = st.selectbox("GPU", ids, key="gpu", format_func=lambda i: f"{by_id[i].name} · {by_id[i].memory_gib:g} GB")
            count = 1
            if kind == "Several GPUs":
                count = int(st.number_input("Number of GPUs", min_value=2, max_value=64, value=2, step=1, key="gpu_count"))
            ram = st.number_input("Host RAM, GB (0 = unknown)", min_value=0, max_value=65536, value=64, step=16, key="host_ram")
            spec = hardware_spec_for(kind, entry_id=gpu, count=count, memory_gb=float(ram) or None)
        elif kind == "Apple Silicon":
            chips = [e for e in entries if e.kind == "apple-silicon"]
            ids = [e.id for e in chips]
            by_id = {e.id: e for e in chips}
            _default_state("apple_chip", DEFAULT_APPLE if DEFAULT_APPLE in ids else ids[-1], ids)
            chip = st.selectbox("Chip", ids, key="apple_chip", format_func=lambda i: by_id[i].name)
            sizes = [float(s) for s in by_id[chip].memory_options_gib]
            _default_state("apple_memory", max(sizes), sizes)
            size = st.selectbox("Unified memory", sizes, key="apple_memory", format_func=lambda s: f"{s:g} GB")
            spec = hardware_spec_for(kind, entry_id=chip, memory_gb=size)
        else:
            platforms = [e for e in entries if e.kind == "cpu-platform"]
            ids = [e.id for e in platforms]
            by_id = {e.id: e for e in platforms}
            _default_state("cpu_platform", DEFAULT_CPU if DEFAULT_CPU in ids else ids[0], ids)
            platform = st.selectbox("CPU platform", ids, key="cpu_platform", format_func=lambda i: by_id[i].name)
            ram = st.number_input("RAM, GB", min_value=1, max_value=65536, value=64, step=16, key="cpu_ram")
            spec = hardware_spec_for(kind, entry_id=platform, memory_gb=float(ram))
        choice.hw_key, choice.hw_label = f"spec:{spec}", spec
        st.caption(f"As a CLI spec: `--hardware {spec}`")
    elif source == "Custom machine":
        gpus = int(st.number_input("GPUs", min_value=0, max_value=64, value=1, step=1, key="custom_gpus"))
        vendor = st.selectbox("GPU vendor", ("nvidia", "amd", "intel", "generic"), key="custom_vendor", disabled=gpus == 0)
        vram = st.number_input("VRAM per GPU, GB", min_value=0.0, max_value=4096.0, value=24.0, step=1.0, key="custom_vram",
                               disabled=gpus == 0)
        bandwidth = st.number_input("GPU memory bandwidth, GB/s", min_value=0.0, max_value=100000.0, value=1000.0, step=50.0,
                                    key="custom_bandwidth", disabled=gpus == 0)
        tflops = st.number_input("GPU FP16 TFLOPS (0 = unknown)", min_value=0.0, max_value=100000.0, value=0.0, step=10.0,
                                 key="custom_tflops", disabled=gpus == 0)
        ram = st.number_input("System RAM, GB", min_value=0.0, max_value=65536.0, value=64.0, step=16.0, key="custom_ram")
        ram_bandwidth = st.number_input("RAM bandwidth, GB/s (0 = unknown)", min_value=0.0, max_value=100000.0, value=0.0, step=10.0,
                                        key="custom_ram_bandwidth")
        try:
            machine = custom_machine(gpus=gpus, vram_gb=vram, bandwidth_gb_s=bandwidth, ram_gb=ram, vendor=vendor,
                                     fp16_tflops=tflops or None, ram_bandwidth_gb_s=ram_bandwidth or None)
        except SizerError as exc:
            report(exc)
            return
        choice.hw_key, choice.hw_label = "json:" + machine.model_dump_json(), machine.name or "custom machine"
    else:
        typed = st.text_input("Hardware spec (as `--hardware` takes it)", value="2xrtx-3090@128", key="hw_spec",
                              help="ID, NxID, NODESxNxID or ID@GB: rtx-4090, 2xrtx-3090@128, 2x8xh100-sxm, m2-max-38c@64, cpu@64")
        try:
            spec = check_typed_spec(typed)
        except SizerError as exc:
            report(exc)
            return
        choice.hw_key, choice.hw_label = f"spec:{spec}", spec
    try:
        machine = machine_for(choice.hw_key)
    except SizerError as exc:
        choice.hw_key = None
        report(exc)
        return
    for warning in machine.warnings:
        st.caption(f"⚠ {warning}")


def model_inputs(choice: Choice) -> None:
    st.header("2 · Model")
    source = st.radio("Model", MODEL_SOURCES, key="model_source", horizontal=True, label_visibility="collapsed")
    entries = model_catalog()
    families = ["All families", *sorted({e.family for e in entries})]
    search = st.text_input("Search the catalog", key="model_search", placeholder="llama, qwen3, coder…")
    family = st.selectbox("Family", families, key="model_family")
    size = st.select_slider("Size, billions of parameters", SIZE_STEPS_B, value=(SIZE_STEPS_B[0], SIZE_STEPS_B[-1]), key="model_size",
                            format_func=lambda b: f"{b}B" if b < SIZE_STEPS_B[-1] else f"{b}B+")
    matching = filter_models(entries, search, family, size)
    choice.rows = tuple(f"catalog:{e.id}" for e in matching)
    if source == "Catalog":
        if not matching:
            st.error("No catalog model matches the search, family and size above: widen them.")
            return
        ids = [e.id for e in matching]
        by_id = {e.id: e for e in matching}
        _default_state("model", DEFAULT_MODEL if DEFAULT_MODEL in ids else ids[0], ids)
        model_id = st.selectbox(f"Catalog model ({len(ids)} match)", ids, key="model",
                                format_func=lambda i: f"{by_id[i].name} · {billions(i):.1f}B")
        choice.model_key, choice.model_entry = f"catalog:{model_id}", by_id[model_id]
        entry = by_id[model_id]
        st.caption(f"[{entry.hf_repo}](https://huggingface.co/{entry.hf_repo}) · {entry.architecture} · "
                   f"up to {entry.max_context:,} tokens" + (f" · `ollama run {entry.ollama_tag}`" if entry.ollama_tag else ""))
        return
    kind = "gguf" if source == "GGUF upload" else "config.json"
    if kind == "gguf":
        cap = GGUF_UPLOAD_CAP_MB
        st.caption(f"Only the GGUF header is read (metadata and the tensor list), so uploads are capped at **{cap} MB**. "
                   f"For a bigger file upload its start: `head -c {cap}M model.gguf > header.gguf`.")
        uploaded = _file_uploader("GGUF file (or its first megabytes)", ["gguf"], cap, "upload_gguf")
    else:
        cap = CONFIG_UPLOAD_CAP_MB
        st.caption(f"A Hugging Face `config.json` (at most {cap} MB); weights are sized from the architecture.")
        uploaded = _file_uploader("config.json", ["json"], cap, "upload_config")
    if uploaded is None:
        st.info(f"Upload a {'GGUF file' if kind == 'gguf' else 'config.json'} to size it.")
        return
    try:
        path, model_input = load_upload(kind, uploaded.name, uploaded.getvalue(), upload_folder())
    except SizerError as exc:
        report(exc)
        return
    choice.model_key, choice.model_entry = f"file:{path}", model_input.entry
    choice.rows = (choice.model_key, *choice.rows)
    entry = model_input.entry
    summary = f"Read **{entry.name}** · {entry.architecture} · {entry.num_layers} layers · up to {entry.max_context:,} tokens"
    if model_input.gguf is not None:
        summary += f" · {model_input.gguf.file_type}"
    st.success(summary)


def _file_uploader(label: str, types: list[str], cap_mb: int, key: str):
    kwargs: dict[str, Any] = {}
    if "max_upload_size" in inspect.signature(st.file_uploader).parameters:
        kwargs["max_upload_size"] = cap_mb  # refused in the browser, before the upload (Streamlit >= 1.52)
    return st.file_uploader(label, type=types, key=key, **kwargs)


def workload_inputs(choice: Choice) -> None:
    st.header("3 · Workload")
    choice.ctx = int(st.number_input("Context length per user, tokens", min_value=1, max_value=1 << 24, value=DEFAULT_CTX, step=1024,
                                     key="ctx"))
    choice.users = int(st.number_input("Concurrent users", min_value=1, max_value=100_000, value=1, step=1, key="users"))
    choice.prefer = st.radio("Priority", PRIORITIES, index=1, key="prefer", horizontal=True)
    if choice.model_entry is not None and choice.ctx > choice.model_entry.max_context:
        st.warning(f"{choice.ctx:,} tokens is beyond {choice.model_entry.name}'s trained {choice.model_entry.max_context:,}.")


@st.fragment
def what_fits(choice: Choice) -> None:
    """The heat map (a fragment: choosing its engine redraws only it)."""
    engine = st.selectbox("Engine", ENGINES, key="fit_engine", help="The heat map's engine; its quantizations are the columns.")
    st.caption(f"Rows: the models matching the Model filters ({len(choice.rows)}); cells: decode tokens/s for one user at "
               f"{choice.ctx:,} tokens of context on {choice.hw_label}.")
    if not choice.rows:
        st.info("No model to show: widen the Model filters.")
        return
    with st.spinner("Sizing every model × quantization…"):
        grid = fit_grid(choice.rows, choice.hw_key, engine, choice.ctx, choice.users)
    columns = list(dict.fromkeys(grid["quant"]))
    order = list(dict.fromkeys(grid["model"]))
    base = alt.Chart(grid).encode(
        x=alt.X("quant:N", sort=columns, title=None, axis=alt.Axis(orient="top", labelAngle=0)),
        y=alt.Y("model:N", sort=order, title=None, axis=alt.Axis(labelLimit=260)),
    )
    cells = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color("status:N", scale=alt.Scale(domain=list(STATUS_ORDER), range=list(STATUS_COLORS)),
                        legend=alt.Legend(orient="top", title=None, columns=6)),
        tooltip=[alt.Tooltip("model:N"), alt.Tooltip("quant:N"), alt.Tooltip("status:N"), alt.Tooltip("placement:N"),
                 alt.Tooltip("speed:Q", title="decode tok/s", format=".1f"), alt.Tooltip("memory:Q", title="memory GiB"),
                 alt.Tooltip("detail:N")],
    )
    labels = base.mark_text(fontSize=11).encode(
        text="text:N",
        color=alt.condition(alt.FieldOneOfPredicate(field="status", oneOf=[FITS_GPU, NO_FIT, CPU_ONLY]), alt.value("white"),
                            alt.value("black")),
    )
    chart = (cells + labels).properties(height=max(140, 24 * len(order) + 40))
    st.altair_chart(chart, width="stretch")
    counts = grid["status"].value_counts()
    st.caption(" · ".join(f"{status}: {counts.get(status, 0)}" for status in STATUS_ORDER if counts.get(status, 0)))


def recommendation_summary(choice: Choice, recommendation: Recommendation) -> None:
    st.subheader("The recommendation")
    if not recommendation.options:
        st.warning(f"Nothing runs {choice.model_entry.name if choice.model_entry else 'this model'} on {choice.hw_label} at "
                   f"{choice.ctx:,} tokens × {choice.users} users. The rejected alternatives below say why; "
                   "Plan hardware finds a machine that does.")
        return
    best = recommendation.options[0]
    speed = best.throughput.per_user_tokens_per_s if choice.users > 1 else best.throughput.decode_tokens_per_s
    cols = st.columns(5)
    cols[0].metric("Engine", best.backend)
    cols[1].metric("Quantization", best.quant)
    cols[2].metric("Speed per user", speed_text(speed))
    cols[3].metric("Placement", best.placement)
    cols[4].metric("Memory", gib(best.memory.total_bytes))
    st.markdown(f"**{best.model_name}** with **{best.backend}** at **{best.quant}** — " + "; ".join(best.reasons[:2]))


def recommendation_details(choice: Choice, recommendation: Recommendation) -> None:
    w = recommendation.workload
    st.caption(f"{recommendation.hardware} · context {w.ctx:,} · {w.users} user{'s' if w.users > 1 else ''} · prefer {w.prefer}")
    for note in recommendation.notes:
        st.caption(f"⚠ {note}")
    if recommendation.options:
        best = recommendation.options[0]
        st.markdown(f"#### #1: {best.backend} · {best.quant} · {best.placement}")
        st.markdown("\n".join(f"- {reason}" for reason in best.reasons))
        settings = {k: v for k, v in best.settings.model_dump().items() if v is not None}
        left, right = st.columns(2)
        with left:
            st.markdown("**Settings**")
            st.dataframe(pd.DataFrame({"setting": list(settings), "value": [str(v) for v in settings.values()]}), hide_index=True,
                         width="stretch")
        with right:
            t = best.throughput
            st.markdown("**Speed**")
            st.dataframe(pd.DataFrame({
                "": ["decode, one user", "per user", "all users", "prefill", "time to first token"],
                "value": [speed_text(t.decode_tokens_per_s), speed_text(t.per_user_tokens_per_s), speed_text(t.aggregate_tokens_per_s),
                          speed_text(t.prefill_tokens_per_s),
                          "?" if t.time_to_first_token_s is None else f"{t.time_to_first_token_s:.2f} s"],
            }), hide_index=True, width="stretch")
            if best.quality:
                st.caption(f"Quality: {best.quality.summary}" + (f" ([source]({best.quality.source}))" if best.quality.source else ""))
        for warning in best.warnings:
            st.caption(f"⚠ {warning}")
        st.markdown("**Other options**")
        st.dataframe(pd.DataFrame([{
            "#": o.rank, "model": o.model_name, "engine": o.backend, "quant": o.quant, "placement": o.placement,
            "memory GiB": round(o.memory.total_bytes / GIB, 1),
            "tok/s per user": o.throughput.per_user_tokens_per_s if w.users > 1 else o.throughput.decode_tokens_per_s,
            "score": o.score, "why": "; ".join(o.reasons[:2]),
        } for o in recommendation.options]), hide_index=True, width="stretch")
    st.markdown(f"**Rejected alternatives** ({len(recommendation.rejected)})")
    if recommendation.rejected:
        st.dataframe(pd.DataFrame([{"model": r.model, "engine": r.backend, "quant": r.quant or "", "why": r.reason}
                                   for r in recommendation.rejected]), hide_index=True, width="stretch")
    else:
        st.caption("None: every combination tried runs here.")


@dataclass
class Focus:
    """The plan the Why and Deploy tabs show: the recommended one, or the engine and quantization picked."""

    backend: str
    quant: str
    kv_type: Optional[str] = None
    kv_type_v: Optional[str] = None
    flash_attn: Optional[bool] = None
    label: str = ""


def focus_inputs(choice: Choice, recommendation: Optional[Recommendation]) -> Optional[Focus]:
    options = recommendation.options if recommendation else []
    labels = [option_label(o, choice.users) for o in options] + ["Another engine and quantization…"]
    picked = st.selectbox("Plan shown under Why and Deploy", labels, index=0)
    if picked != labels[-1]:
        o = options[labels.index(picked)]
        s = o.settings
        return Focus(o.backend, o.quant, s.kv_type_k, s.kv_type_v, s.flash_attn, picked)
    left, right = st.columns(2)
    backend = left.selectbox("Engine", ENGINES, key="focus_engine")
    model_input = model_input_for(choice.model_key) if choice.model_key else None
    if model_input is not None and model_input.gguf is not None:
        quants = [model_input.gguf.file_type or "GGUF"]
    else:
        quants = quant_columns(backend, [choice.model_entry] if choice.model_entry else [])
    _default_state("focus_quant", "Q4_K_M" if "Q4_K_M" in quants else quants[0], quants)
    quant = right.selectbox("Quantization", quants, key="focus_quant")
    return Focus(backend, quant, label=f"{backend} · {quant}")


def focus_estimate(choice: Choice, focus: Focus) -> Estimate:
    return cached_estimate(choice.model_key, choice.hw_key, focus.backend, focus.quant, choice.ctx, choice.users,
                           focus.kv_type, focus.kv_type_v, focus.flash_attn)


def why(choice: Choice, focus: Focus) -> None:
    result = focus_estimate(choice, focus)
    verdict = {True: "fits", False: "does not fit", None: "fit unknown"}[result.fits]
    st.markdown(f"**{result.model.name} · {result.quant} · {result.backend}** on {choice.hw_label}: "
                f"**{verdict}** ({result.placement or 'no placement'}), {gib(result.memory.total_bytes)} in all")
    left, right = st.columns(2)
    with left:
        st.markdown("**Memory per device against its capacity**")
        bars = estimate_rows(result)
        caps = capacity_rows(result)
        x_device = alt.X("device:N", title=None, axis=alt.Axis(labelAngle=0, labelLimit=220))
        stacked = alt.Chart(bars).mark_bar(size=46).encode(
            x=x_device,
            y=alt.Y("sum(GiB):Q", title="GiB", stack="zero"),
            color=alt.Color("term:N", scale=alt.Scale(domain=list(TERM_ORDER), range=list(TERM_COLORS)),
                            legend=alt.Legend(orient="bottom", title=None)),
            order=alt.Order("order:Q"),
            tooltip=["device:N", "term:N", alt.Tooltip("GiB:Q", format=".2f")],
        )
        layers = [stacked]
        if not caps.empty:
            layers.append(alt.Chart(caps).mark_tick(color="#c92a2a", thickness=3, size=80).encode(
                x=x_device, y="capacity GiB:Q", tooltip=["device:N", "label:N"]))
            layers.append(alt.Chart(caps).mark_text(dy=-8, fontSize=11, color="#c92a2a").encode(
                x=x_device, y="capacity GiB:Q", text="label:N"))
        st.altair_chart(alt.layer(*layers).properties(height=340), width="stretch")
        st.caption("Red line: what the engine may use on the device (its capacity); the gap above the bar is the headroom.")
    with right:
        st.markdown("**Memory and speed against context length**")
        sweep = context_sweep(choice.model_key, choice.hw_key, focus.backend, focus.quant, choice.users, focus.kv_type,
                              focus.kv_type_v, focus.flash_attn, choice.ctx)
        if sweep.empty:
            st.info("No context length could be sized for this plan.")
        else:
            x = alt.X("context:Q", scale=alt.Scale(type="log", base=2), title="context length per user, tokens")
            memory = sweep.melt(id_vars=["context"], value_vars=["total GiB", "KV cache GiB", "capacity GiB"], var_name="series",
                                value_name="GiB").dropna()
            memory_chart = alt.Chart(memory).mark_line(point=True).encode(
                x=x, y=alt.Y("GiB:Q"), color=alt.Color("series:N", legend=alt.Legend(orient="bottom", title=None)),
                strokeDash=alt.condition(alt.datum.series == "capacity GiB", alt.value([5, 4]), alt.value([1, 0])),
                tooltip=["context:Q", "series:N", alt.Tooltip("GiB:Q", format=".2f")],
            ).properties(height=200)
            speed_chart = alt.Chart(sweep.dropna(subset=["decode tok/s"])).mark_line(point=True, color="#2f9e44").encode(
                x=x, y=alt.Y("decode tok/s:Q"), tooltip=["context:Q", alt.Tooltip("decode tok/s:Q", format=".1f"), "status:N"],
            ).properties(height=160)
            workload = alt.Chart(pd.DataFrame({"context": [choice.ctx]})).mark_rule(color="#868e96", strokeDash=[2, 3]).encode(
                x="context:Q", tooltip=[alt.Tooltip("context:Q", title="your context")])
            st.altair_chart(alt.vconcat(memory_chart + workload, speed_chart + workload), width="stretch")
            st.caption("Decode speed at a full context (prompt = context length). Dashed: the GPU memory (or RAM) the engine may "
                       "use; dotted grey: your context length.")
    with st.expander("Every term, per device"):
        rows = []
        for device in result.memory.devices:
            for term, value in device.terms.items():
                rows.append({"device": device.device, "term": term, "GiB": round(value / GIB, 3)})
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
        s = result.settings
        st.caption(f"context {s.ctx:,} × {s.parallel} · KV {s.kv_type_k}/{s.kv_type_v}"
                   + (f" · -ngl {s.gpu_layers}" if s.gpu_layers is not None else "")
                   + (f" · KV pool {result.memory.kv_capacity_tokens:,} tokens" if result.memory.kv_capacity_tokens else ""))
    notes = list(result.warnings) + [f"{u.field}: {u.reason}" for u in result.unknowns]
    if result.throughput:
        notes += result.throughput.notes
    for note in dict.fromkeys(notes):
        st.caption(f"• {note}")


def deploy_options(uploaded: bool) -> tuple[tuple[str, Any], ...]:
    """Optional deploy() arguments typed on the page (deploy validates them)."""
    with st.expander("Deployment options", expanded=uploaded):
        if uploaded:
            st.caption("An uploaded model: name the file or folder the engine will load, or a Hugging Face repository.")
        c1, c2 = st.columns(2)
        hf_repo = c1.text_input("Hugging Face repository to download instead (e.g. a GGUF conversion)", key="dep_repo")
        model_path = c2.text_input("Local model file or folder to load instead of downloading", key="dep_path")
        c3, c4 = st.columns(2)
        port = int(c3.number_input("Port (0 = the engine's default)", min_value=0, max_value=65535, value=0, key="dep_port"))
        system_prompt = c4.text_area("System prompt", key="dep_system", height=68)
    options: list[tuple[str, Any]] = []
    if hf_repo.strip():
        options.append(("hf_repo", hf_repo.strip()))
    if model_path.strip():
        options.append(("model_path", model_path.strip()))
    if port:
        options.append(("port", port))
    if system_prompt.strip():
        options.append(("system_prompt", system_prompt))
    return tuple(options)


def deploy_section(choice: Choice, focus: Focus) -> None:
    if deploy_function() is None:
        result = focus_estimate(choice, focus)
        st.info("This version of sizer has no deployment generator (sizer.deploy.deploy); the plan's JSON is below.")
        document = result.model_dump_json(indent=2)
        st.code(document, language="json")
        st.download_button("Download sizer-plan.json", document, file_name="sizer-plan.json", mime="application/json",
                           key="dl-plan")
        return
    options = deploy_options(bool(choice.model_key and choice.model_key.startswith("file:")))
    deployment = cached_deployment(choice.model_key, choice.hw_key, focus.backend, focus.quant, choice.ctx, choice.users,
                                   focus.kv_type, focus.kv_type_v, focus.flash_attn, options)
    st.markdown(f"**{deployment.plan.model_name} · {deployment.plan.quant} · {deployment.plan.backend}** on {choice.hw_label} "
                f"(the plan chosen under Why) · serves `{deployment.plan.served_model_name}` at `{deployment.plan.base_url}`")
    for note in deployment.notes:
        st.caption(f"• {note}")
    for artifact in deployment.artifacts:
        st.markdown(f"**{artifact.name}** — `{artifact.filename}`")
        st.code(artifact.content, language=ARTIFACT_LANGUAGES.get(artifact.language, artifact.language))
        st.download_button(f"Download {artifact.filename}", artifact.content, file_name=artifact.filename,
                           mime="text/yaml" if artifact.language == "yaml" else "text/plain", key=f"dl-{artifact.filename}")
    document = deployment.model_dump_json(indent=2)
    st.download_button("Download every file (zip)", artifacts_zip(deployment.artifacts, document), file_name="sizer-deployment.zip",
                       mime="application/zip", key="dl-zip")
    st.markdown("**The plan as JSON** (for scripts: the plan, the estimate it came from, every file above)")
    with st.expander("sizer-plan.json"):
        st.code(document, language="json")
    st.download_button("Download sizer-plan.json", document, file_name="sizer-plan.json", mime="application/json", key="dl-plan")


@st.fragment
def plan_section(default_model: str) -> None:
    """Reverse sizing: a model and a load in, catalog hardware with cost and break-even out (a fragment: its form reruns only it)."""
    entries = model_catalog()
    ids = [e.id for e in entries]
    names = {e.id: e.name for e in entries}
    _default_state("plan_model", default_model if default_model in ids else DEFAULT_MODEL, ids)
    with st.form("plan_form"):
        st.caption("Catalog models only. Finding hardware tries every catalog machine: allow a few seconds.")
        c1, c2, c3 = st.columns(3)
        model_id = c1.selectbox("Model", ids, key="plan_model", format_func=lambda i: names[i])
        ctx = int(c2.number_input("Context per user", min_value=1, max_value=1 << 24, value=DEFAULT_CTX, step=1024, key="plan_ctx"))
        users = int(c3.number_input("Concurrent users", min_value=1, max_value=100_000, value=1, key="plan_users"))
        c4, c5, c6 = st.columns(3)
        target = c4.number_input("Tokens/s each user needs (0 = any)", min_value=0.0, max_value=10_000.0, value=10.0, key="plan_tps")
        price = c5.number_input("API price, $ per million tokens", min_value=0.0, max_value=1000.0, value=0.60, step=0.05,
                                key="plan_price")
        monthly = c6.number_input("Tokens per month, millions", min_value=0.0, max_value=1e7, value=100.0, step=10.0,
                                  key="plan_tokens")
        c7, c8, c9, c10 = st.columns(4)
        kinds = c7.multiselect("Hardware kinds", ("gpu", "apple-silicon", "cpu-platform"),
                               default=["gpu", "apple-silicon", "cpu-platform"], key="plan_kinds")
        months = int(c8.number_input("Amortization, months", min_value=1, max_value=240, value=36, key="plan_months"))
        kwh = c9.number_input("Electricity, $/kWh", min_value=0.0, max_value=10.0, value=0.15, step=0.01, key="plan_kwh")
        utilization = c10.number_input("Busy share of the month", min_value=0.01, max_value=1.0, value=1.0, step=0.05,
                                       key="plan_util")
        st.form_submit_button("Find hardware")
    if not kinds:
        st.error("Choose at least one kind of hardware.")
        return
    try:
        with st.spinner("Trying every catalog machine…"):
            result = cached_plan(model_id, ctx, users, target or None, price or None, monthly * 1e6 if monthly else None, months, kwh,
                                 utilization, tuple(sorted(kinds)))
    except Exception as exc:  # noqa: BLE001 - shown on the page, never as a traceback
        report(exc)
        return
    if not result.options:
        st.warning("No catalog hardware runs it at this load" + (f" at {target:g} tokens/s per user" if target else "") + ".")
    else:
        rows = []
        for o in result.options:
            cost = o.cost
            rows.append({
                "#": o.rank, "hardware": o.hardware, "name": o.name, "price $": o.price_usd, "engine": o.backend, "quant": o.quant,
                "placement": o.placement, "memory GiB": round(o.memory_total_bytes / GIB, 1),
                "tok/s per user": o.throughput.per_user_tokens_per_s if users > 1 else o.throughput.decode_tokens_per_s,
                "own $/month": cost.monthly_own_usd if cost else None,
                "API $/month": cost.monthly_api_usd if cost else None,
                "break-even M tok/month": round(cost.break_even_tokens_per_month / 1e6, 1)
                if cost and cost.break_even_tokens_per_month is not None else None,
                "capacity M tok/month": round(cost.capacity_tokens_per_month / 1e6, 1)
                if cost and cost.capacity_tokens_per_month is not None else None,
            })
        table = pd.DataFrame(rows)
        st.dataframe(table, hide_index=True, width="stretch")
        costs = table.dropna(subset=["break-even M tok/month"])
        if not costs.empty:
            verdicts = ("owning is cheaper at your volume", "owning is cheaper, but it cannot generate your volume",
                        "the API is cheaper at your volume")

            def verdict(row) -> str:
                own, api, capacity = row["own $/month"], row["API $/month"], row["capacity M tok/month"]
                if own is None or api is None or pd.isna(own) or pd.isna(api) or own >= api:
                    return verdicts[2]
                if monthly and capacity is not None and not pd.isna(capacity) and capacity < monthly:
                    return verdicts[1]
                return verdicts[0]

            costs = costs.assign(verdict=costs.apply(verdict, axis=1))
            x = alt.X("break-even M tok/month:Q", title="break-even, million tokens per month")
            bars = alt.Chart(costs).mark_bar().encode(
                y=alt.Y("hardware:N", sort=list(costs["hardware"]), title=None, axis=alt.Axis(labelLimit=220)), x=x,
                color=alt.Color("verdict:N", scale=alt.Scale(domain=list(verdicts), range=["#2f9e44", "#f59f00", "#adb5bd"]),
                                legend=alt.Legend(orient="bottom", title=None, labelLimit=0, columns=1)),
                tooltip=["hardware:N", "break-even M tok/month:Q", "capacity M tok/month:Q", "own $/month:Q", "API $/month:Q"],
            )
            layers = [bars]
            if monthly:
                layers.append(alt.Chart(pd.DataFrame({"volume": [monthly]})).mark_rule(color="#c92a2a", strokeDash=[5, 4], size=2)
                              .encode(x="volume:Q", tooltip=[alt.Tooltip("volume:Q", title="your M tokens/month")]))
            st.altair_chart(alt.layer(*layers).properties(height=max(160, 32 * len(costs))), width="stretch")
            st.caption("Break-even: the monthly volume above which owning (the price spread over the amortization, plus power at "
                       "TDP while busy) costs less than the API. Red dashed line: your volume.")
        cost_notes = [f"{o.hardware}: {note}" for o in result.options if o.cost for note in o.cost.notes]
        if cost_notes:
            with st.expander(f"Cost notes ({len(cost_notes)})"):
                st.markdown("\n".join(f"- {note}" for note in cost_notes))
    for note in result.notes:
        st.caption(f"• {note}")
    with st.expander(f"Rejected configurations ({len(result.rejected)})"):
        if result.rejected:
            st.dataframe(pd.DataFrame([{"engine": r.backend, "quant": r.quant or "", "why": r.reason} for r in result.rejected]),
                         hide_index=True, width="stretch")
    st.download_button("Download hardware-plan.json", result.model_dump_json(indent=2), file_name="hardware-plan.json",
                       mime="application/json", key="dl-hardware-plan")


def _section(body: Callable[[], None]) -> None:
    try:
        body()
    except Exception as exc:  # noqa: BLE001 - every problem is a message on the page, never a traceback
        report(exc)


def main() -> None:
    st.set_page_config(page_title="sizer — which LLM fits", page_icon="🧮", layout="wide")
    try:  # Streamlit's own "Deploy" toolbar button would be confused with the Deploy tab
        st.set_option("client.toolbarMode", "minimal")
    except Exception:  # noqa: BLE001 - an option this Streamlit does not have
        pass
    st.markdown("## sizer &nbsp;<small style='font-weight:400;color:#868e96;font-size:0.55em'>which open-weight LLM fits on your "
                "hardware, at which quantization, on which engine — and why</small>", unsafe_allow_html=True)
    choice = Choice()
    with st.sidebar:
        _section(lambda: hardware_inputs(choice))
        _section(lambda: model_inputs(choice))
        _section(lambda: workload_inputs(choice))

    recommendation: Optional[Recommendation] = None
    ready = choice.hw_key is not None and choice.model_key is not None
    if ready:
        try:
            with st.spinner("Ranking engines and quantizations…"):
                recommendation = cached_recommendation(choice.model_key, choice.hw_key, choice.ctx, choice.users, choice.prefer)
        except Exception as exc:  # noqa: BLE001
            report(exc)
        if recommendation is not None:
            _section(lambda: recommendation_summary(choice, recommendation))
    else:
        st.info("Choose the hardware and a model in the sidebar.")

    tabs = st.tabs(["What fits", "Why", "Recommendation", "Deploy", "Plan hardware"])
    with tabs[0]:
        if choice.hw_key is None:
            st.info("Choose the hardware in the sidebar.")
        else:
            _section(lambda: what_fits(choice))
    focus: Optional[Focus] = None
    if ready:
        with tabs[1]:
            try:
                focus = focus_inputs(choice, recommendation)
            except Exception as exc:  # noqa: BLE001
                report(exc)
            if focus is not None:
                _section(lambda: why(choice, focus))
        with tabs[2]:
            if recommendation is not None:
                _section(lambda: recommendation_details(choice, recommendation))
        with tabs[3]:
            if focus is not None:
                _section(lambda: deploy_section(choice, focus))
    else:
        for tab in tabs[1:4]:
            tab.info("Choose the hardware and a model in the sidebar.")
    with tabs[4]:
        default = _model_arg(choice.model_key) if choice.model_key and choice.model_key.startswith("catalog:") else DEFAULT_MODEL
        _section(lambda: plan_section(default))


if __name__ == "__main__":
    main()
