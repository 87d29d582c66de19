#!/bin/sh
# Smoke test: Qwen2.5 32B Instruct (Q4_K_M) with llama.cpp on rtx-4060@64
# Run it on the machine that runs the server once the server is started. Needs curl 7.71 or later.
set -eu

echo 'waiting for http://127.0.0.1:8080/health'
curl http://127.0.0.1:8080/health \
    -fsS \
    -o /dev/null \
    --retry 120 \
    --retry-delay 5 \
    --retry-all-errors

curl http://127.0.0.1:8080/v1/chat/completions \
    -fsS \
    -H 'Content-Type: application/json' \
    -d '{"model": "qwen2.5-32b-instruct", "messages": [{"role": "user", "content": "Reply with one short sentence: are you running?"}], "max_tokens": 32}'
echo
