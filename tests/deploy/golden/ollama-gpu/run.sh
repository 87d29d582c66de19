#!/bin/sh
# Ollama: Llama 3.1 8B Instruct (Q4_K_M) with ollama on rtx-4090@64
# Context 32,768 tokens x 1 parallel sequence(s), KV cache f16, flash attention on; placement gpu.
set -eu

cd "$(dirname "$0")"

# The server's environment (also in ollama.env): it decides the context, the parallel
# sequences and the KV cache, so it must be the environment of `ollama serve` itself.
export OLLAMA_HOST=0.0.0.0:11434
export OLLAMA_CONTEXT_LENGTH=32768
export OLLAMA_NUM_PARALLEL=1
export OLLAMA_FLASH_ATTENTION=1
export OLLAMA_KV_CACHE_TYPE=f16
export OLLAMA_MAX_LOADED_MODELS=1

if ollama list >/dev/null 2>&1; then
    echo 'an Ollama server is already running: its own environment applies, not the one above (see ollama.env)' >&2
else
    ollama serve &
    until ollama list >/dev/null 2>&1; do sleep 1; done
fi

ollama pull llama3.1:8b-instruct-q4_K_M
ollama create llama-3.1-8b-instruct-q4_k_m -f Modelfile
ollama run llama-3.1-8b-instruct-q4_k_m 'Reply with one short sentence: are you running?'

wait  # keeps the server started above in the foreground
