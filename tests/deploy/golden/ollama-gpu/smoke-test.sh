#!/bin/sh
# Smoke test: Llama 3.1 8B Instruct (Q4_K_M) with ollama on rtx-4090@64
# Run it on the machine that runs the server once the server is started. Needs curl 7.71 or later.
set -eu

echo 'waiting for http://127.0.0.1:11434/api/version'
curl http://127.0.0.1:11434/api/version \
    -fsS \
    -o /dev/null \
    --retry 120 \
    --retry-delay 5 \
    --retry-all-errors

curl http://127.0.0.1:11434/v1/chat/completions \
    -fsS \
    -H 'Content-Type: application/json' \
    -d '{"model": "llama-3.1-8b-instruct-q4_k_m", "messages": [{"role": "user", "content": "Reply with one short sentence: are you running?"}], "max_tokens": 32}'
echo
