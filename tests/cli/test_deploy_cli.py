"""`sizer deploy` through the CLI: printing, writing all files or none, JSON."""

from __future__ import annotations

import json

import jsonschema
from click.testing import CliRunner

from sizer.cli import cli
from sizer.output import json_schema


def run(*args: str):
    return CliRunner().invoke(cli, ["deploy", *args], catch_exceptions=False)


def test_without_backend_and_quant_it_deploys_the_recommenders_first_choice():
    from sizer.recommend import recommend

    best = recommend(["llama-3.1-8b-instruct"], hardware="rtx-4090@64", top=1).options[0]
    document = json.loads(run("llama-3.1-8b-instruct", "-H", "rtx-4090@64", "--json").stdout)
    jsonschema.Draft202012Validator(json_schema("deploy")).validate(document)
    assert (document["data"]["estimate"]["backend"], document["data"]["estimate"]["quant"]) == (best.backend, best.quant)


def test_an_explicit_engine_and_quant_are_deployed_as_asked():
    document = json.loads(run("llama-3.1-8b-instruct", "-b", "llama.cpp", "-q", "Q5_K_M", "-H", "rtx-4090@64", "--json").stdout)
    assert (document["data"]["estimate"]["backend"], document["data"]["estimate"]["quant"]) == ("llama.cpp", "Q5_K_M")


def test_output_directory_receives_every_file(tmp_path):
    target = tmp_path / "out"
    result = run("llama-3.1-8b-instruct", "-b", "vllm", "-q", "bf16", "-H", "h100-sxm@256", "-o", str(target))
    assert result.exit_code == 0, result.output
    names = {p.name for p in target.rglob("*") if p.is_file()}
    assert "docker-compose.yml" in names and any(n.endswith(".sh") for n in names)


def test_a_non_empty_output_directory_is_refused_and_left_alone(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = run("llama-3.1-8b-instruct", "-b", "llama.cpp", "-q", "Q4_K_M", "-H", "rtx-4090@64", "-o", str(target))
    assert result.exit_code == 2 and result.output.startswith("Error: ")
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


def test_a_model_that_fits_nowhere_is_a_one_line_error():
    result = run("llama-3.1-405b-instruct", "-H", "rtx-4060@16")
    assert result.exit_code == 2 and result.output.startswith("Error: no plan for llama-3.1-405b-instruct on rtx-4060@16")
