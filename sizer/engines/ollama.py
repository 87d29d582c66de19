"""Ollama: llama.cpp's llama-server underneath, with Ollama's own defaults on top.

At the commit read in ../shared/ENGINES.md Ollama starts `llama-server` with
`-c <num_ctx × num_parallel> -np <num_parallel> -b/-ub <num_batch>`, the cache type from
OLLAMA_KV_CACHE_TYPE and `-ngl` only when `num_gpu` is set (otherwise llama-server's --fit
picks the layers).  So memory follows llama.cpp's rules with these inputs.
"""

from __future__ import annotations

from typing import Optional

from sizer.engines.base import GIB, device_capacity
from sizer.engines.llamacpp import LlamaCpp
from sizer.errors import InvalidInputError
from sizer.types import Machine, ModelEntry

# server/routes.go: default num_ctx by total VRAM (after OLLAMA_GPU_OVERHEAD), v0.15.5 and later
# (runtime_logs constants const-ollama-default-ctx; ENGINES.md "Ollama" table).
CONTEXT_BY_VRAM = ((47 * GIB, 262144), (23 * GIB, 32768), (0, 4096))
DEFAULT_NUM_PARALLEL = 1  # envconfig/config.go OLLAMA_NUM_PARALLEL default since v0.9.7
DEFAULT_NUM_BATCH = 512  # api/types.go DefaultOptions num_batch
KV_TYPES = ("f16", "q8_0", "q4_0")  # OLLAMA_KV_CACHE_TYPE values (docs/faq.mdx)


class Ollama(LlamaCpp, name="ollama"):
    """Ollama's server and its model library."""

    label = "Ollama"
    kv_cache_types = KV_TYPES
    aliases = ()
    # The tags Ollama's library offers for a model (q8_0, q6_K, q5_K_M, q4_K_M, q3_K_M, q2_K).
    LADDER = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")
    FIT_BONUS = (0.04, 0.0)
    NEEDS_LIBRARY_TAG = True

    def recommendation_reasons(self, model: ModelEntry, placement: Optional[str], users: int, many_users: bool) -> list[str]:
        return [f"simplest to run: `ollama run {model.ollama_tag}` (llama.cpp underneath)"] if model.ollama_tag else []

    def default_ctx(self, model: ModelEntry, machine: Optional[Machine]) -> int:
        vram = 0
        if machine:
            vram = sum(device_capacity(a) or 0 for host in machine.hosts[:1] for a in host.accelerators if not a.unified_memory)
            vram += sum(
                a.memory_total_bytes or 0 for host in machine.hosts[:1] for a in host.accelerators if a.unified_memory
            )
        default = next(ctx for threshold, ctx in CONTEXT_BY_VRAM if vram >= threshold)
        # llm/server.go caps num_ctx at the model's training context.
        return min(default, model.max_context)

    def default_parallel(self) -> int:
        return DEFAULT_NUM_PARALLEL

    def default_batches(self) -> tuple[int, int]:
        return DEFAULT_NUM_BATCH, DEFAULT_NUM_BATCH

    def resolve(self, model, request, machine):
        if request.kv_type and request.kv_type.lower() not in KV_TYPES:
            from sizer.errors import InvalidInputError

            raise InvalidInputError(f"OLLAMA_KV_CACHE_TYPE takes {', '.join(KV_TYPES)}, not '{request.kv_type}'")
        return super().resolve(model, request, machine)


# --- deployment ---------------------------------------------------------------------------
#
# How to run the plan with Ollama: the model tag to pull, a Modelfile with the load-time
# parameters, and the server environment (Ollama has no per-model command-line flags; the
# server reads OLLAMA_* variables, models read Modelfile PARAMETERs: ../shared/ENGINES.md).
# Names are those of ../shared/flags/flags_ollama_env.txt and flags_ollama_modelfile.txt.

OLLAMA_PORT = 11434  # envconfig/config.go: OLLAMA_HOST defaults to 127.0.0.1:11434
OLLAMA_HEALTH = "/api/version"  # server/routes.go; answers as soon as the server is up
OLLAMA_IMAGES = {None: "ollama/ollama", "nvidia": "ollama/ollama", "amd": "ollama/ollama:rocm"}  # docs/docker.mdx
OLLAMA_STORE = "/root/.ollama"  # docs/docker.mdx: -v ollama:/root/.ollama
MODELFILE_IN_CONTAINER = "/sizer/Modelfile"

# Library tags (ollama.com/library/<name>/tags) follow <name>:<size>-<variant>-<quant>, where
# <variant> is the model's own ("instruct", "it", "instruct-v0.3", "qwen-distill", …) and <quant>
# is llama.cpp's file-type name with a lowercase leading q (q4_K_M, q8_0, q6_K) or fp16 for F16.
# The catalog's `ollama_tag` is the short tag (llama3.1:8b); this table gives the tag prefix of
# its quantized variants and which quantizations the library publishes for it.  Models of 2024
# carry the whole llama.cpp k-quant set; later ones only q4_K_M, q8_0 and fp16.  Checked against
# the tags pages and tags in use (e.g. llama3.1:8b-instruct-q4_K_M, gemma3:4b-it-q8_0,
# deepseek-r1:7b-qwen-distill-q4_K_M, mistral:7b-instruct-v0.3-q5_K_M, phi3.5:3.8b-mini-instruct-q4_K_M,
# mistral-nemo:12b-instruct-2407-q6_K, llama4:17b-scout-16e-instruct-q8_0, qwen3-coder:30b-a3b-q8_0).
_FULL = frozenset({"Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_0", "Q4_1", "Q4_K_S", "Q4_K_M", "Q5_0", "Q5_1",
                   "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0", "F16"})  # fmt: skip
_RECENT = frozenset({"Q4_K_M", "Q8_0", "F16"})
LIBRARY_TAGS: dict[str, tuple[str, frozenset[str]]] = {
    "llama3.2:1b": ("llama3.2:1b-instruct", _FULL),
    "llama3.2:3b": ("llama3.2:3b-instruct", _FULL),
    "llama3.1:8b": ("llama3.1:8b-instruct", _FULL),
    "llama3.1:405b": ("llama3.1:405b-instruct", _FULL),
    "llama3.3:70b": ("llama3.3:70b-instruct", _FULL),
    "llama4:scout": ("llama4:17b-scout-16e-instruct", _RECENT),
    "llama4:maverick": ("llama4:17b-maverick-128e-instruct", _RECENT),
    "qwen2.5:7b": ("qwen2.5:7b-instruct", _FULL),
    "qwen2.5:72b": ("qwen2.5:72b-instruct", _FULL),
    "qwen2.5-coder:1.5b": ("qwen2.5-coder:1.5b-instruct", _FULL),
    "qwen2.5-coder:32b": ("qwen2.5-coder:32b-instruct", _FULL),
    "qwen3:1.7b": ("qwen3:1.7b", _RECENT),
    "qwen3:4b": ("qwen3:4b", _RECENT),
    "qwen3:30b": ("qwen3:30b-a3b", _RECENT),
    "qwen3-coder:30b": ("qwen3-coder:30b-a3b", _RECENT),
    "mistral": ("mistral:7b-instruct-v0.3", _FULL),
    "mistral-nemo": ("mistral-nemo:12b-instruct-2407", _FULL),
    "mistral-small:24b": ("mistral-small:24b-instruct-2501", _RECENT),
    "mixtral:8x7b": ("mixtral:8x7b-instruct-v0.1", _FULL),
    "mixtral:8x22b": ("mixtral:8x22b-instruct-v0.1", _FULL),
    "gemma3:1b": ("gemma3:1b-it", _RECENT),
    "gemma3:4b": ("gemma3:4b-it", _RECENT),
    "gemma3:12b": ("gemma3:12b-it", _RECENT),
    "gemma3:27b": ("gemma3:27b-it", _RECENT),
    "phi3.5": ("phi3.5:3.8b-mini-instruct", _FULL),
    "phi4-mini": ("phi4-mini:3.8b", _RECENT),
    "phi4": ("phi4:14b", _RECENT),
    "deepseek-r1:1.5b": ("deepseek-r1:1.5b-qwen-distill", _RECENT),
    "deepseek-r1:7b": ("deepseek-r1:7b-qwen-distill", _RECENT),
    "deepseek-r1:14b": ("deepseek-r1:14b-qwen-distill", _RECENT),
    "deepseek-r1:32b": ("deepseek-r1:32b-qwen-distill", _RECENT),
    "deepseek-r1:70b": ("deepseek-r1:70b-llama-distill", _RECENT),
    "deepseek-r1:671b": ("deepseek-r1:671b", _RECENT),
}
# Library models published in one quantization only, under the short tag itself.
LIBRARY_ONLY_TAG = {"gpt-oss:20b": "MXFP4_MOE", "gpt-oss:120b": "MXFP4_MOE"}


def library_quant(quant: str) -> str:
    """llama.cpp's file-type name as Ollama's library spells it: Q4_K_M -> q4_K_M, F16 -> fp16."""
    if quant.upper() == "F16":
        return "fp16"
    return quant[0].lower() + quant[1:]


def ollama_model_tag(entry: Optional[ModelEntry], quant: str, repo: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """(tag to pull, why not the library) for a catalog model in a GGUF quantization.

    The library's tag when it publishes this quantization; else Hugging Face's GGUF route
    `hf.co/<repo>:<QUANT>` (Ollama pulls GGUF files from the Hub by that name).
    """
    short = entry.ollama_tag if entry else None
    if short and LIBRARY_ONLY_TAG.get(short) == quant.upper():
        return short, None
    if short in LIBRARY_TAGS:
        prefix, quants = LIBRARY_TAGS[short]
        if quant.upper() in quants:
            return f"{prefix}-{library_quant(quant)}", None
        why = f"Ollama's library publishes {short} in {', '.join(sorted(library_quant(q) for q in quants))}, not {quant}"
    elif short:
        why = f"sizer does not know which quantizations Ollama's library publishes for {short}"
    else:
        why = "this model is not in Ollama's library"
    if repo is None:
        return None, why
    return f"hf.co/{repo}:{quant}", why


def modelfile_value(what: str, text: str) -> str:
    """A Modelfile value quoted the way Ollama's parser reads it back (parser/parser.go: unquote).

    Triple quotes hold anything but three quotes in a row; the parser has no escape sequences,
    so text with `\"\"\"` cannot be written and is refused rather than cut short.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if '"""' in text:
        raise InvalidInputError(f'{what} contains """, which a Modelfile cannot hold (the format has no escapes)')
    return f'"""{text}"""'


def _plain_or_quoted(what: str, value: str) -> str:
    import re

    return value if re.fullmatch(r"[A-Za-z0-9._:/@+~=-]+", value) else modelfile_value(what, value)


def _ollama_env(request, *, bind: str) -> dict[str, str]:
    s = request.settings
    used_gpus = [d for d in request.estimate.memory.devices if d.kind != "cpu" and d.layers]
    env = {
        "OLLAMA_HOST": bind,
        "OLLAMA_CONTEXT_LENGTH": str(s.ctx),
        "OLLAMA_NUM_PARALLEL": str(s.parallel),
        "OLLAMA_FLASH_ATTENTION": "1" if s.flash_attn else "0",
        "OLLAMA_KV_CACHE_TYPE": s.kv_type_k,
        # The plan sized one model in memory; a second resident model would not fit in it.
        "OLLAMA_MAX_LOADED_MODELS": "1",
    }
    if len(used_gpus) > 1:
        # Without it a model that fits one GPU stays on one GPU; the plan spreads it (server/sched.go).
        env["OLLAMA_SCHED_SPREAD"] = "1"
    return env


def _modelfile(request, source: str) -> str:
    from sizer.deploy.text import comment

    s = request.settings
    lines = [comment(f"Modelfile: {request.label()}", "Load-time parameters from sizer's estimate; create with: ollama create NAME -f Modelfile")]
    lines.append(f"FROM {_plain_or_quoted('model', source)}\n")
    lines.append(f"PARAMETER num_ctx {s.ctx}\n")
    if s.n_batch and s.n_batch != DEFAULT_NUM_BATCH:
        lines.append(f"PARAMETER num_batch {s.n_batch}\n")
    gpu_machine = any(not a.unified_memory for a in request.accelerators) or request.apple
    if request.estimate.placement == "partial-offload" or (gpu_machine and not s.gpu_layers):
        # Ollama passes num_gpu to llama-server as -ngl (llm/llama_server.go): layers on the GPU, output layer included.
        lines.append(f"PARAMETER num_gpu {s.gpu_layers or 0}\n")
    if request.threads:
        lines.append(f"PARAMETER num_thread {request.threads}\n")
    for stop in request.stop:
        lines.append(f"PARAMETER stop {modelfile_value('stop sequence', stop)}\n")
    if request.system_prompt:
        lines.append(f"SYSTEM {modelfile_value('system prompt', request.system_prompt)}\n")
    return "".join(lines)


def _ollama_deployment(self, request):
    """`ollama pull`, a Modelfile, `ollama create`/`run`, the server environment and a compose file."""
    import shlex

    from sizer.deploy.result import Artifact
    from sizer.deploy.spec import ContainerSpec, EnginePlan, Mount
    from sizer.deploy.text import check_word, comment, shell_script, slug

    estimate = request.estimate
    s = request.settings
    port = request.port or OLLAMA_PORT
    notes: list[str] = []
    if s.kv_type_k != s.kv_type_v:
        raise InvalidInputError(f"Ollama uses one KV cache type for K and V (OLLAMA_KV_CACHE_TYPE); the plan has {s.kv_type_k}/{s.kv_type_v}")
    pull: Optional[str] = None
    if request.model_path is not None:
        source = str(request.model_path)
    elif estimate.model.source == "gguf":
        raise InvalidInputError("this plan was made from a local GGUF file: pass its path as model_path (--model-path)")
    else:
        if request.hf_repo:
            pull, why = f"hf.co/{request.hf_repo}:{estimate.quant}", None
        else:
            pull, why = ollama_model_tag(request.entry, estimate.quant, request.repo)
        if pull is None:
            raise InvalidInputError(f"{why}: pass model_path (a local GGUF file) or hf_repo (a GGUF repository)")
        check_word("Ollama model", pull)
        if why:
            notes.append(f"{why}: pulling {pull} from Hugging Face, which needs a repository of GGUF files (pass hf_repo to name one)")
        source = pull
    name = slug(f"{estimate.model.id if estimate.model.source == 'catalog' else estimate.model.name}-{estimate.quant}")
    modelfile = _modelfile(request, source)
    env = _ollama_env(request, bind=f"{request.host}:{port}" if ":" not in request.host else f"[{request.host}]:{port}")
    body = [
        "cd \"$(dirname \"$0\")\"",
        "",
        "# The server's environment (also in ollama.env): it decides the context, the parallel",
        "# sequences and the KV cache, so it must be the environment of `ollama serve` itself.",
        *(f"export {key}={shlex.quote(value)}" for key, value in env.items()),
        "",
        "if ollama list >/dev/null 2>&1; then",
        "    echo 'an Ollama server is already running: its own environment applies, not the one above (see ollama.env)' >&2",
        "else",
        "    ollama serve &",
        "    until ollama list >/dev/null 2>&1; do sleep 1; done",
        "fi",
        "",
    ]
    if pull:
        body.append(shlex.join(["ollama", "pull", pull]))
    body += [
        shlex.join(["ollama", "create", name, "-f", "Modelfile"]),
        shlex.join(["ollama", "run", name, "Reply with one short sentence: are you running?"]),
        "",
        "wait  # keeps the server started above in the foreground",
    ]
    script = shell_script(
        [f"Ollama: {request.label()}", f"Context {s.ctx:,} tokens x {s.parallel} parallel sequence(s), KV cache {s.kv_type_k}, "
         f"flash attention {'on' if s.flash_attn else 'off'}; placement {estimate.placement or 'not planned'}."],
        body,
    )
    dotenv = comment(
        f"Ollama server environment: {request.label()}",
        "For the Linux service: systemctl edit ollama.service, then EnvironmentFile=/path/to/ollama.env under [Service].",
        "For the macOS app: launchctl setenv NAME VALUE for each line, then restart Ollama.",
    ) + "".join(f"{key}={value}\n" for key, value in env.items())
    plan = EnginePlan(
        served_model_name=name,
        model_source=source,
        port=port,
        health_path=OLLAMA_HEALTH,
        commands=[
            Artifact(name="Ollama pull, create and run", kind="command", filename="run.sh", content=script, language="sh"),
            Artifact(name="Ollama server environment", kind="env", filename="ollama.env", content=dotenv, language="dotenv"),
        ],
        modelfile=Artifact(name="Ollama Modelfile", kind="modelfile", filename="Modelfile", content=modelfile, language="modelfile"),
        notes=notes,
    )
    if request.nodes > 1:
        plan.notes.append("Ollama serves from one host: the commands start it on the first node only")
    if request.apple:
        plan.no_container_reason = "Docker on macOS runs a Linux VM without access to the Metal GPU; run Ollama natively (run.sh)"
        return plan
    vendor = request.gpu_vendor if s.gpu_layers else None
    if vendor not in OLLAMA_IMAGES:
        plan.no_container_reason = f"no Ollama image is known for {vendor} GPUs"
        return plan
    container_env = _ollama_env(request, bind=f"0.0.0.0:{OLLAMA_PORT}")
    mounts = [Mount(target=OLLAMA_STORE)]
    if request.model_path is not None:
        mounts.append(Mount(target=str(request.model_path), source=str(request.model_path), read_only=True, kind="bind"))
    jobs = ([["ollama", "pull", pull]] if pull else []) + [["ollama", "create", name, "-f", MODELFILE_IN_CONTAINER]]
    gpus = request.accelerators if vendor else []
    plan.containers.append(
        ContainerSpec(
            name="ollama",
            image=OLLAMA_IMAGES[vendor],
            args=["serve"],
            port=OLLAMA_PORT,
            health_path=OLLAMA_HEALTH,
            health_test=["ollama", "list"],  # the image has no curl; the client talks to OLLAMA_HOST
            env=container_env,
            gpu_vendor=vendor,
            gpus=len(gpus),
            gpu_product=gpus[0].name if gpus else None,
            mounts=mounts,
            start_period_s=60,
            jobs=jobs,
            job_env={"OLLAMA_HOST": f"ollama:{OLLAMA_PORT}"},
            files={MODELFILE_IN_CONTAINER: modelfile},
        )
    )
    return plan


Ollama.deployment = _ollama_deployment  # type: ignore[attr-defined]
