"""The `sizer` command line through its real entry point: output, JSON envelopes, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest
from click.testing import CliRunner

from sizer import __version__
from sizer.cli import cli
from sizer.output import json_schema, schema_dir, schema_names


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def run_json(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def validates(command: str, document: dict) -> None:
    jsonschema.Draft202012Validator(json_schema(command)).validate(document)


def test_version_prints_the_package_version():
    assert run("--version").output == f"sizer, version {__version__}\n"


def test_detect_json_validates_against_its_schema():
    document = run_json("detect")
    validates("detect", document)
    assert document["command"] == "detect" and document["status"] == "ok"
    assert document["data"]["hosts"][0]["cpu"]["logical_cores"] >= 1


def test_detect_prints_a_readable_report():
    output = run("detect").output
    assert "CPU" in output and "Memory" in output


@pytest.mark.parametrize(
    ("args", "check"),
    [
        (("--vendor", "apple"), lambda e: e["vendor"] == "apple"),
        (("--kind", "cpu-platform"), lambda e: e["kind"] == "cpu-platform"),
        (("--min-memory", "80"), lambda e: max([e["memory_gib"] or 0, *e["memory_options_gib"]]) >= 80),
        (("--search", "4090"), lambda e: "4090" in e["id"]),
    ],
)
def test_hardware_filters(args, check):
    document = run_json("hardware", *args)
    validates("hardware", document)
    assert document["data"] and all(check(e) for e in document["data"])


@pytest.mark.parametrize(
    ("args", "check"),
    [
        (("--family", "qwen"), lambda e: e["family"] == "qwen"),
        (("--max-params", "4"), lambda e: e["params_total"] is None or e["params_total"] <= 4e9),
        (("--moe",), lambda e: e["num_experts"]),
        (("--search", "gemma-3"), lambda e: "gemma-3" in e["id"]),
    ],
)
def test_models_filters(args, check):
    document = run_json("models", *args)
    validates("models", document)
    assert document["data"] and all(check(e) for e in document["data"])


def test_an_empty_listing_is_an_empty_list():
    assert run_json("models", "--search", "no-such-model")["data"] == []


def test_hardware_table_lists_ids():
    output = run("hardware", "--vendor", "nvidia").output
    assert output.splitlines()[0].split()[:2] == ["id", "name"] and "rtx-4090" in output


@pytest.mark.parametrize("name", schema_names())
def test_committed_schema_matches_the_models(name):
    committed = json.loads((schema_dir() / f"{name}.schema.json").read_text())
    assert committed == json_schema(name), "run: python -c 'from sizer.output import write_schemas; write_schemas()'"


def test_schema_prints_a_json_schema():
    assert json.loads(run("schema", "detect").output)["title"]


def test_unknown_schema_is_a_one_line_error_with_exit_code_2():
    result = run("schema", "nope")
    assert result.exit_code == 2
    assert result.output.startswith("Error: no schema named 'nope'; choose from ") and result.output.count("\n") == 1


def test_unknown_model_is_a_one_line_error_with_exit_code_2():
    result = run("estimate", "no-such-model")
    assert result.exit_code == 2
    assert result.output == "Error: unknown model 'no-such-model'; `sizer models` lists them\n"


def test_errors_in_json_mode_also_print_an_error_envelope():
    result = run("estimate", "no-such-model", "--json")
    assert result.exit_code == 2
    envelope = json.loads(result.stdout.split("Error:")[0])
    assert envelope["status"] == "error" and envelope["errors"][0]["code"] == "unknown-id"


def test_bad_hardware_spec_is_a_one_line_error():
    result = run("estimate", "llama-3.1-8b-instruct", "--hardware", "rtx-4090@@")
    assert result.exit_code == 2 and result.output.startswith("Error: cannot read hardware spec 'rtx-4090@@'")


def test_installed_entry_point_runs_as_a_module():
    completed = subprocess.run([sys.executable, "-m", "sizer", "models", "--json", "--family", "phi"], capture_output=True, text=True, check=True)
    assert json.loads(completed.stdout)["data"][0]["family"] == "phi"
