#!/bin/sh
# Smoke test: Llama 3.1 8B Instruct (bf16) with tgi on rtx-4090
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
    -d '{"model": "tgi", "messages": [{"role": "user", "content": "Reply with one short sentence: are you running?"}], "max_tokens": 32}'
echo
