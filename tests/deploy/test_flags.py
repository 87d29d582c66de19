"""Every flag, environment variable and Modelfile parameter the generator emits exists in that
engine's own list (../shared/flags, read from each engine's documentation)."""

from __future__ import annotations

import pytest

from tests.deploy._support import (
    case_ids,
    deployment_for,
    flag_list,
    modelfile_parameters,
    ollama_server_env,
    options,
    server_argvs,
)

FLAG_LISTS = {"llama.cpp": "flags_llama_server", "vllm": "flags_vllm_serve", "tgi": "flags_tgi"}


@pytest.mark.parametrize("case_id", case_ids(backend="llama.cpp") + case_ids(backend="vllm") + case_ids(backend="tgi"))
def test_every_emitted_flag_is_in_the_engines_flag_list(case_id, tmp_path):
    known = flag_list(FLAG_LISTS[deployment_for(case_id).plan.backend])
    for artifact, argv in server_argvs(case_id, tmp_path).items():
        assert set(options(argv)) - known == set(), artifact


@pytest.mark.parametrize("case_id", case_ids(backend="ollama"))
def test_every_ollama_environment_variable_is_one_ollama_reads(case_id, tmp_path):
    known = flag_list("flags_ollama_env")
    for artifact, env in ollama_server_env(case_id, tmp_path).items():
        assert set(env) - known == set(), artifact


@pytest.mark.parametrize("case_id", case_ids(backend="ollama"))
def test_every_modelfile_parameter_is_one_ollama_accepts(case_id):
    parameters = modelfile_parameters(deployment_for(case_id).artifact("Modelfile").content)
    assert set(parameters) - {"FROM", "SYSTEM"} - flag_list("flags_ollama_modelfile") == set()


def test_the_flag_check_would_catch_an_unknown_flag():
    assert set(options(["--ctx-size", "1", "--not-a-flag=3"])) - flag_list("flags_llama_server") == {"--not-a-flag"}
