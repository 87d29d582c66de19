"""Human-readable forms of sizer's results (the `--json` forms come from the models themselves)."""

from __future__ import annotations

from sizer.output import human_bytes, table
from sizer.types import HardwareEntry, Machine, ModelEntry


def _gb(value) -> str:
    return "?" if value is None else f"{value:g}"


def render_machine(machine: Machine) -> str:
    blocks: list[str] = []
    for number, host in enumerate(machine.hosts):
        title = host.hostname or (f"host {number}" if len(machine.hosts) > 1 else "this machine")
        cpu = host.cpu
        mem = host.memory
        lines = [
            f"{title}{' (container)' if host.in_container else ''}{' — ' + host.os if host.os else ''}",
            f"  CPU      {cpu.brand or '?'} [{cpu.architecture or '?'}], "
            f"{cpu.physical_cores or '?'} physical / {cpu.logical_cores or '?'} logical cores"
            + (f", limited to {cpu.cpu_quota:g} by the container" if cpu.cpu_quota else ""),
            f"  ISA      {', '.join(cpu.features) or 'none detected'}",
            f"  Memory   {human_bytes(mem.total_bytes)} total, {human_bytes(mem.available_bytes)} available"
            + (f", container limit {human_bytes(mem.cgroup_limit_bytes)}" if mem.cgroup_limit_bytes else "")
            + (f", {mem.bandwidth_gb_s:g} GB/s ({mem.bandwidth_source})" if mem.bandwidth_gb_s else ""),
        ]
        if host.accelerators:
            rows = [
                [
                    a.index,
                    a.name,
                    a.catalog_id or "(not in catalog)",
                    human_bytes(a.memory_total_bytes),
                    human_bytes(a.memory_free_bytes),
                    _gb(a.memory_bandwidth_gb_s),
                    _gb(a.fp16_tflops),
                    a.compute_capability or ("unified" if a.unified_memory else "-"),
                ]
                for a in host.accelerators
            ]
            lines.append("")
            lines.append(
                table(["#", "accelerator", "catalog", "memory", "free", "GB/s", "FP16 TFLOPS", "CC"], rows)
            )
            for a in host.accelerators:
                extras = []
                if a.working_set_limit_bytes:
                    extras.append(f"GPU working-set limit {human_bytes(a.working_set_limit_bytes)}")
                if a.driver_version:
                    extras.append(f"driver {a.driver_version}" + (f", CUDA {a.cuda_version}" if a.cuda_version else ""))
                if a.nvlink_peers:
                    extras.append(f"NVLink to {', '.join(map(str, a.nvlink_peers))}")
                if a.unknown:
                    extras.append("unknown: " + "; ".join(a.unknown))
                if extras:
                    lines.append(f"  [{a.index}] " + " · ".join(extras))
        else:
            lines.append("  GPUs     none found (CPU inference only)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def render_hardware(entries: list[HardwareEntry]) -> str:
    rows = []
    for e in entries:
        memory = _gb(e.memory_gib) if e.memory_gib else "/".join(_gb(s) for s in e.memory_options_gib) or "-"
        rows.append([e.id, e.name, e.kind, memory, _gb(e.memory_bandwidth_gb_s), _gb(e.fp16_tflops), _gb(e.tdp_w), _gb(e.price_usd)])
    return table(["id", "name", "kind", "memory GB", "GB/s", "FP16 TFLOPS", "TDP W", "USD"], rows, align="lllrrrrr")


def render_models(entries: list[ModelEntry]) -> str:
    rows = []
    for e in entries:
        params = f"{e.params_total / 1e9:.1f}B" if e.params_total else "?"
        if e.params_active:
            params += f" ({e.params_active / 1e9:.1f}B active)"
        attention = "MLA" if e.is_mla else f"{e.num_attention_heads}/{e.num_kv_heads}"
        rows.append([e.id, e.family, params, e.num_layers, attention, f"{e.max_context:,}", e.ollama_tag or "-"])
    return table(["id", "family", "parameters", "layers", "heads/kv", "context", "ollama"], rows, align="lllrrrl")


def render_estimate(estimate) -> str:
    """The estimate as people read it: settings, then a table of devices × memory terms."""
    s = estimate.settings
    m = estimate.memory
    lines = [
        f"{estimate.model.name} · {estimate.quant} · {estimate.backend}"
        + (f" · {estimate.hardware}" if estimate.hardware else " · no hardware (device-neutral)"),
        f"  parameters {estimate.model.params_total / 1e9:.2f}B"
        + (f" ({estimate.model.params_active / 1e9:.2f}B active)" if estimate.model.params_active else "")
        + f" · context {s.ctx:,} × {s.parallel} sequence{'s' if s.parallel > 1 else ''}"
        + f" · KV {s.kv_type_k}/{s.kv_type_v}"
        + (f" · flash attention {'on' if s.flash_attn else 'off'}" if s.flash_attn is not None else "")
        + (f" · -ngl {s.gpu_layers}" if s.gpu_layers is not None else "")
        + (f" · TP {s.tensor_parallel}" if s.tensor_parallel > 1 else "")
        + (f" · PP {s.pipeline_parallel}" if s.pipeline_parallel > 1 else "")
        + (f" · gpu-memory-utilization {s.gpu_memory_utilization:g}" if s.gpu_memory_utilization else ""),
        "",
    ]
    rows = []
    for d in m.devices:
        rows.append([
            d.device, d.layers, human_bytes(d.weights_bytes), human_bytes(d.kv_cache_bytes), human_bytes(d.compute_bytes),
            human_bytes(d.overhead_bytes), human_bytes(d.total_bytes),
            human_bytes(d.capacity_bytes) if d.capacity_bytes is not None else "-",
            "-" if d.fits is None else ("yes" if d.fits else "NO"),
        ])
    rows.append(["total", "", human_bytes(m.weights_bytes), human_bytes(m.kv_cache_bytes), human_bytes(m.compute_bytes),
                 human_bytes(m.overhead_bytes), human_bytes(m.total_bytes), "", ""])
    lines.append(table(["device", "layers", "weights", "KV cache", "compute", "overhead", "total", "capacity", "fits"], rows,
                       align="lrrrrrrrl"))
    lines.append("")
    if estimate.placement:
        verdict = {True: "fits", False: "DOES NOT FIT", None: "fit unknown"}[estimate.fits]
        lines.append(f"placement: {estimate.placement} — {verdict}")
    if m.kv_capacity_tokens is not None:
        lines.append(f"KV capacity: {m.kv_capacity_tokens:,} tokens · max concurrency at {s.ctx:,} tokens: {m.max_concurrency:.2f}")
    t = estimate.throughput
    if t and t.decode_tokens_per_s:
        lines.append(
            f"speed: decode {t.decode_tokens_per_s:.1f} tok/s · prefill {t.prefill_tokens_per_s:.0f} tok/s · "
            f"time to first token {t.time_to_first_token_s:.2f} s ({t.prompt_tokens} prompt tokens)"
        )
    for unknown in estimate.unknowns:
        lines.append(f"unknown: {unknown.field}: {unknown.reason}")
    return "\n".join(lines).rstrip()


def _speed(value) -> str:
    return "?" if value is None else f"{value:.1f}"


def render_recommendation(recommendation) -> str:
    w = recommendation.workload
    lines = [f"Hardware: {recommendation.hardware} · context {w.ctx:,} · {w.users} user{'s' if w.users > 1 else ''} · prefer {w.prefer}", ""]
    if not recommendation.options:
        lines.append("Nothing fits. Closest rejections:")
        for item in recommendation.rejected[:10]:
            lines.append(f"  {item.model} · {item.backend} · {item.quant or '-'}: {item.reason}")
        return "\n".join(lines)
    rows = []
    for o in recommendation.options:
        speed = o.throughput.per_user_tokens_per_s if w.users > 1 else o.throughput.decode_tokens_per_s
        rows.append([o.rank, o.model, o.group, o.backend, o.quant, o.placement, human_bytes(o.memory.total_bytes),
                     _speed(speed), f"{o.score:.2f}"])
    lines.append(table(["#", "model", "size", "engine", "quant", "placement", "memory", "tok/s", "score"], rows, align="rllllllrr"))
    best = recommendation.options[0]
    lines += ["", f"Why #1 ({best.model}, {best.backend}, {best.quant}):"]
    lines += [f"  - {reason}" for reason in best.reasons]
    lines.append("")
    lines.append(f"{len(recommendation.rejected)} combinations rejected (see --json for each reason), e.g.:")
    shown = set()
    for item in recommendation.rejected:
        key = (item.backend, item.reason.split(";")[0][:60])
        if key in shown:
            continue
        shown.add(key)
        lines.append(f"  {item.model} · {item.backend} · {item.quant or '-'}: {item.reason}")
        if len(shown) >= 5:
            break
    return "\n".join(lines)


def render_plan(hardware_plan) -> str:
    w = hardware_plan.workload
    target = f" · at least {hardware_plan.tokens_per_s_target:g} tok/s per user" if hardware_plan.tokens_per_s_target else ""
    lines = [f"{hardware_plan.model} · context {w.ctx:,} · {w.users} user{'s' if w.users > 1 else ''}{target}", ""]
    if not hardware_plan.options:
        lines.append("No catalog hardware runs it at this load.")
        return "\n".join(lines)
    rows = []
    for o in hardware_plan.options:
        speed = o.throughput.per_user_tokens_per_s if w.users > 1 else o.throughput.decode_tokens_per_s
        cost = o.cost
        rows.append([o.rank, o.hardware, _gb(o.price_usd), o.backend, o.quant, o.placement, human_bytes(o.memory_total_bytes), _speed(speed),
                     "" if not cost or cost.monthly_own_usd is None else f"{cost.monthly_own_usd:,.0f}",
                     "" if not cost or cost.break_even_tokens_per_month is None else f"{cost.break_even_tokens_per_month / 1e6:,.0f}M"])
    lines.append(table(["#", "hardware", "USD", "engine", "quant", "placement", "memory", "tok/s", "$/month", "break-even"], rows,
                       align="rlrllllrrr"))
    return "\n".join(lines)
