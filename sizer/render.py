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
