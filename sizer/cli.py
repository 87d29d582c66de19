"""The `sizer` command line: thin commands over the library, one output sink.

Each command parses its options, calls one library function and hands the result to
:mod:`sizer.output`.  Errors in the user's input become one line on stderr and exit code 2
(``SIZER_DEBUG=1`` shows the traceback instead).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Optional

import click

from sizer import __version__
from sizer.errors import DataFileError, InvalidInputError, SizerError, UnknownIdError, UnsupportedError

# Named exit codes.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2

# Exception type -> stable error code in JSON envelopes (most specific first).
ERROR_CODES: list[tuple[type[BaseException], str]] = [
    (UnknownIdError, "unknown-id"),
    (DataFileError, "bad-data-file"),
    (UnsupportedError, "unsupported"),
    (InvalidInputError, "invalid-input"),
    (SizerError, "error"),
]


class BadInput(click.ClickException):
    """A SizerError shown as `Error: …` with exit code 2."""

    exit_code = EXIT_BAD_INPUT


def _error_code(exc: BaseException) -> str:
    return next(code for kind, code in ERROR_CODES if isinstance(exc, kind))


class SizerGroup(click.Group):
    """Maps SizerError to one line and exit code 2; with --json also prints an error envelope."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SizerError as exc:
            if os.environ.get("SIZER_DEBUG"):
                raise
            message = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            sub = ctx.meta.get("sizer.command")
            if ctx.meta.get("sizer.json") and sub:
                from sizer.output import error_envelope, print_json

                print_json(error_envelope(sub, _error_code(exc), message))
            raise BadInput(message) from None


def json_option(command_name: str) -> Callable:
    """The `--json` flag, which also tells the error handler to answer in JSON."""

    def remember(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        ctx.meta["sizer.command"] = command_name
        ctx.meta["sizer.json"] = value
        return value

    return click.option("--json", "json_", is_flag=True, callback=remember, help="Print one JSON document (see `sizer schema`).")


def _emit(command: str, data: Any, json_: bool, render: Callable[[Any], str], warnings: list[str] = ()) -> None:
    from sizer.output import envelope, print_json, warn

    if json_:
        print_json(envelope(command, data, warnings))
    else:
        click.echo(render(data))
    for message in warnings:
        warn(message)


@click.group(cls=SizerGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="sizer")
def cli() -> None:
    """Size, plan and deploy open-weight LLMs on your own hardware.

    \b
    sizer detect                   what this machine has
    sizer hardware --vendor apple  the hardware catalog
    sizer models --family qwen     the model catalog
    sizer schema detect            JSON Schema of a --json output
    """


# --------------------------------------------------------------------------- detect


@cli.command()
@json_option("detect")
@click.option("--bench", is_flag=True, help="Measure memory bandwidth for a few seconds; used instead of catalog figures.")
def detect(json_: bool, bench: bool) -> None:
    """Show the CPU, memory and accelerators sizer finds on this machine."""
    from sizer.detect import detect_machine
    from sizer.render import render_machine

    machine = detect_machine(bench=bench)
    _emit("detect", machine, json_, render_machine, machine.warnings)


# --------------------------------------------------------------------------- catalogs


@cli.command()
@json_option("hardware")
@click.option("--vendor", type=click.Choice(["nvidia", "amd", "apple", "intel", "generic"]), help="Only this vendor.")
@click.option("--kind", type=click.Choice(["gpu", "apple-silicon", "cpu-platform"]), help="Only this kind of device.")
@click.option("--min-memory", type=click.FloatRange(min=0), metavar="GB", help="At least this much memory (largest option for Apple).")
@click.option("--search", "search", metavar="TEXT", help="Id or name contains TEXT.")
def hardware(json_: bool, vendor: Optional[str], kind: Optional[str], min_memory: Optional[float], search: Optional[str]) -> None:
    """List the hardware catalog (GPUs, Apple Silicon, CPU platforms)."""
    from sizer.catalog import hardware_entries
    from sizer.render import render_hardware

    entries = [
        e
        for e in hardware_entries()
        if (vendor is None or e.vendor == vendor)
        and (kind is None or e.kind == kind)
        and (min_memory is None or max([e.memory_gib or 0, *e.memory_options_gib]) >= min_memory)
        and (search is None or search.lower() in e.id or search.lower() in e.name.lower())
    ]
    _emit("hardware", entries, json_, render_hardware)


@cli.command()
@json_option("models")
@click.option("--family", metavar="NAME", help="Only this family (llama, qwen, gemma, mistral, phi, deepseek, gpt-oss…).")
@click.option("--min-params", type=click.FloatRange(min=0), metavar="B", help="At least this many billion parameters.")
@click.option("--max-params", type=click.FloatRange(min=0), metavar="B", help="At most this many billion parameters.")
@click.option("--moe/--dense", default=None, help="Only mixture-of-experts, or only dense models.")
@click.option("--search", "search", metavar="TEXT", help="Id, name or repo contains TEXT.")
def models(
    json_: bool, family: Optional[str], min_params: Optional[float], max_params: Optional[float], moe: Optional[bool], search: Optional[str]
) -> None:
    """List the model catalog."""
    from sizer.catalog import model_entries
    from sizer.render import render_models

    def billions(entry) -> float:
        if entry.params_total:
            return entry.params_total / 1e9
        from sizer.estimate.tensors import parameter_count  # no official count: count the architecture

        return parameter_count(entry) / 1e9

    entries = [
        e
        for e in model_entries()
        if (family is None or e.family == family.lower())
        and (min_params is None or billions(e) >= min_params)
        and (max_params is None or billions(e) <= max_params)
        and (moe is None or e.is_moe == moe)
        and (search is None or any(search.lower() in s.lower() for s in (e.id, e.name, e.hf_repo)))
    ]
    _emit("models", entries, json_, render_models)


# --------------------------------------------------------------------------- estimate

BACKENDS = ["llama.cpp", "ollama", "vllm", "tgi"]


@cli.command()
@click.argument("model")
@json_option("estimate")
@click.option("--quant", "-q", metavar="Q", help="Quantization: a GGUF type (Q4_K_M, Q8_0…) or a checkpoint format (bf16, fp8, awq, gptq…).")
@click.option("--backend", "-b", type=click.Choice(BACKENDS, case_sensitive=False), default="llama.cpp", show_default=True)
@click.option("--hardware", "-H", metavar="SPEC", help="rtx-4090, 2xrtx-3090, m2-max-38c@64, cpu@128, machine.json or local.")
@click.option("--ctx", type=int, metavar="N", help="Context length per sequence (default 8192; Ollama: its VRAM-based default).")
@click.option("--parallel", "-np", type=int, metavar="N", help="Sequences served at once (--parallel, OLLAMA_NUM_PARALLEL, concurrent users).")
@click.option("--kv-type", metavar="T", help="KV cache type: f16, q8_0, q4_0 (llama.cpp, Ollama); fp8 (vLLM, TGI).")
@click.option("--flash-attn/--no-flash-attn", default=None, help="Flash attention (llama.cpp default: on where supported).")
@click.option("--batch", "n_batch", type=int, metavar="N", help="llama.cpp logical batch (-b).")
@click.option("--ubatch", "n_ubatch", type=int, metavar="N", help="llama.cpp physical batch (-ub).")
@click.option("--gpu-layers", "-ngl", type=int, metavar="N", help="llama.cpp layers on the GPU (default: the most that fit).")
@click.option("--gpu-memory-utilization", type=float, metavar="F", help="vLLM's memory fraction (default 0.92); TGI's --cuda-memory-fraction.")
@click.option("--tensor-parallel", "-tp", type=int, metavar="N", help="vLLM tensor-parallel size / TGI --num-shard.")
@click.option("--pipeline-parallel", "-pp", type=int, metavar="N", help="vLLM pipeline-parallel size.")
@click.option("--prompt", "prompt_tokens", type=click.IntRange(1, 1 << 22), default=512, show_default=True, metavar="N", help="Prompt length for prefill speed.")
def estimate(model: str, json_: bool, quant, backend, hardware, ctx, parallel, kv_type, flash_attn, n_batch, n_ubatch, gpu_layers,
             gpu_memory_utilization, tensor_parallel, pipeline_parallel, prompt_tokens) -> None:
    """Memory of MODEL on an engine, term by term and per device.

    MODEL is a catalog id or alias (`sizer models`), a Hugging Face config.json (or its folder),
    or a local .gguf file (only its header is read).
    """
    from sizer.estimate.api import estimate as run_estimate
    from sizer.render import render_estimate

    result = run_estimate(
        model, quant=quant, backend=backend.lower(), hardware=hardware, ctx=ctx, parallel=parallel, kv_type=kv_type,
        flash_attn=flash_attn, n_batch=n_batch, n_ubatch=n_ubatch, gpu_layers=gpu_layers,
        gpu_memory_utilization=gpu_memory_utilization, tensor_parallel=tensor_parallel,
        pipeline_parallel=pipeline_parallel, prompt_tokens=prompt_tokens,
    )
    _emit("estimate", result, json_, render_estimate, result.warnings)


# --------------------------------------------------------------------------- recommend / plan


@cli.command()
@click.argument("models", nargs=-1)
@json_option("recommend")
@click.option("--hardware", "-H", metavar="SPEC", default="local", show_default=True, help="As in `sizer estimate`.")
@click.option("--ctx", type=click.IntRange(1, 1 << 24), default=8192, show_default=True, metavar="N", help="Context length per user.")
@click.option("--users", type=click.IntRange(1, 100_000), default=1, show_default=True, metavar="N", help="Concurrent users.")
@click.option("--prefer", type=click.Choice(["quality", "balanced", "speed"]), default="balanced", show_default=True)
@click.option("--top", type=click.IntRange(1, 1000), default=5, show_default=True, metavar="N", help="Options to show (per size group without MODELS).")
@click.option("--backend", "-b", "backends", multiple=True, type=click.Choice(BACKENDS, case_sensitive=False), help="Only these engines.")
def recommend(models, json_: bool, hardware, ctx, users, prefer, top, backends) -> None:
    """What to run on this hardware: engine, quantization, settings, speed, and why.

    With no MODELS it goes through the whole catalog and shows the best models this
    machine runs well, by size; with no arguments at all it detects this machine.
    """
    from sizer.recommend import recommend as run_recommend
    from sizer.render import render_recommendation

    result = run_recommend(list(models) or None, hardware=hardware, ctx=ctx, users=users, prefer=prefer, top=top,
                           backends=[b.lower() for b in backends] or None)
    _emit("recommend", result, json_, render_recommendation, result.notes)


@cli.command()
@click.argument("model")
@json_option("plan")
@click.option("--ctx", type=click.IntRange(1, 1 << 24), default=8192, show_default=True, metavar="N")
@click.option("--users", type=click.IntRange(1, 100_000), default=1, show_default=True, metavar="N")
@click.option("--tokens-per-s", type=float, metavar="N", help="Decode speed each user needs.")
@click.option("--quant", "-q", metavar="Q", help="Only this quantization.")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(["gpu", "apple-silicon", "cpu-platform"]), help="Only these kinds of hardware.")
@click.option("--top", type=click.IntRange(1, 1000), default=10, show_default=True, metavar="N")
@click.option("--api-price", type=click.FloatRange(min=0, min_open=True), metavar="USD", help="API price, dollars per million tokens.")
@click.option("--monthly-tokens", type=click.FloatRange(min=0), metavar="N", help="Tokens generated per month (request volume).")
@click.option("--amortize-months", type=click.IntRange(1, 240), default=36, show_default=True, metavar="N")
@click.option("--kwh-price", type=click.FloatRange(min=0), default=0.15, show_default=True, metavar="USD")
@click.option("--utilization", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True, metavar="F", help="Share of the month the hardware is busy.")
def plan(model, json_: bool, ctx, users, tokens_per_s, quant, kinds, top, api_price, monthly_tokens, amortize_months, kwh_price, utilization) -> None:
    """Which hardware runs MODEL at this load: ranked by price and speed, with cost against an API."""
    from sizer.recommend.plan import plan as run_plan
    from sizer.render import render_plan

    result = run_plan(model, ctx=ctx, users=users, tokens_per_s=tokens_per_s, quant=quant, top=top, api_price_per_mtok=api_price,
                      monthly_tokens=monthly_tokens, amortization_months=amortize_months, kwh_price=kwh_price,
                      utilization=utilization, kinds=set(kinds) or None)
    _emit("plan", result, json_, render_plan, result.notes)


# --------------------------------------------------------------------------- deploy


@cli.command()
@click.argument("model")
@json_option("deploy")
@click.option("--backend", "-b", type=click.Choice(BACKENDS, case_sensitive=False), help="Engine (default: the recommender's first choice).")
@click.option("--quant", "-q", metavar="Q", help="Quantization (default: the recommender's first choice).")
@click.option("--hardware", "-H", metavar="SPEC", default="local", show_default=True, help="As in `sizer estimate`.")
@click.option("--ctx", type=click.IntRange(1, 1 << 24), default=8192, show_default=True, metavar="N")
@click.option("--users", type=click.IntRange(1, 100_000), default=1, show_default=True, metavar="N", help="Concurrent users.")
@click.option("--format", "formats", multiple=True, type=click.Choice(["commands", "modelfile", "compose", "kubernetes", "all"]),
              help="Artifacts to generate (repeatable; default all).")
@click.option("-o", "--output", "output_dir", type=click.Path(file_okay=False), help="Write the files here (all or nothing).")
@click.option("--force", is_flag=True, help="Replace an existing, non-empty output directory.")
@click.option("--port", type=click.IntRange(1, 65535), metavar="PORT", help="Port the server listens on.")
@click.option("--model-path", metavar="PATH", help="A local GGUF file or checkpoint directory to load instead of downloading.")
@click.option("--hf-repo", metavar="REPO", help="Hugging Face repo holding the GGUF or quantized checkpoint to download.")
@click.option("--system", "system_prompt", metavar="TEXT", help="System prompt (Ollama Modelfile SYSTEM).")
@click.option("--stop", multiple=True, metavar="TEXT", help="Stop sequence (repeatable).")
def deploy(model, json_: bool, backend, quant, hardware, ctx, users, formats, output_dir, force, port, model_path, hf_repo,
           system_prompt, stop) -> None:
    """Launch commands, Modelfile, docker-compose.yml and Kubernetes manifests for MODEL.

    The artifacts carry exactly the settings of the estimate they come from (context, parallel
    slots, KV type, GPU layers, tensor parallelism, memory utilization).
    """
    from sizer.deploy import deploy as run_deploy
    from sizer.deploy import render_deployment, write_artifacts
    from sizer.deploy.choose import plan_deployment

    estimate_, machine = plan_deployment(model, backend=backend.lower() if backend else None, quant=quant, hardware=hardware, ctx=ctx, users=users)
    deployment = run_deploy(estimate_, machine, formats=set(formats) or None, port=port, system_prompt=system_prompt,
                            stop=list(stop) or None, model_path=model_path, hf_repo=hf_repo)
    if output_dir:
        written = write_artifacts(deployment, output_dir, force=force)
        if not json_:
            click.echo("\n".join(str(path) for path in written))
            for note in deployment.notes:
                from sizer.output import warn

                warn(note)
            return
    _emit("deploy", deployment, json_, render_deployment, deployment.notes)


# --------------------------------------------------------------------------- schema


@cli.command()
@click.argument("name", required=False)
def schema(name: Optional[str]) -> None:
    """Print the JSON Schema of a command's --json output (or of a catalog file).

    Without NAME, list the names.
    """
    from sizer.output import json_schema, print_json, schema_names

    if name is None:
        click.echo("\n".join(schema_names()))
        return
    if name not in schema_names():
        raise InvalidInputError(f"no schema named '{name}'; choose from {', '.join(schema_names())}")
    print_json(json_schema(name))


def main(argv: Optional[list[str]] = None) -> None:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="sizer")
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.stderr.write("Interrupted\n")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
