#!/bin/sh
# Smoke test: Llama 3.3 70B Instruct (bf16) with vllm on 4xa100-sxm-80gb
# Run it on the machine that runs the server once the server is started. Needs curl 7.71 or later.
set -eu

echo 'waiting for http://127.0.0.1:8000/health'
curl http://127.0.0.1:8000/health \
    -fsS \
    -o /dev/null \
    --retry 120 \
    --retry-delay 5 \
    --retry-all-errors

curl http://127.0.0.1:8000/v1/chat/completions \
    -fsS \
    -H 'Content-Type: application/json' \
    -d '{"model": "meta-llama/Llama-3.3-70B-Instruct", "messages": [{"role": "user", "content": "Reply with one short sentence: are you running?"}], "max_tokens": 32}'
echo
