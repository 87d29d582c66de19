#!/bin/sh
# TGI 3.3.5: Llama 3.1 8B Instruct (bf16) with tgi on rtx-4090
# Settings from sizer's estimate: --max-total-tokens 8,192, 1 shard(s), --cuda-memory-fraction 1, KV cache auto.
# Needs Docker with the NVIDIA Container Toolkit; HF_TOKEN is passed through for gated models.
set -eu

exec docker run \
    --rm \
    --name tgi \
    --gpus 1 \
    --shm-size 1g \
    -p 8080:80 \
    -v tgi-data:/data \
    -e HF_TOKEN \
    ghcr.io/huggingface/text-generation-inference:3.3.5 \
    --model-id meta-llama/Llama-3.1-8B-Instruct \
    --num-shard 1 \
    --dtype bfloat16 \
    --max-input-tokens 8191 \
    --max-total-tokens 8192 \
    --max-batch-prefill-tokens 8241 \
    --cuda-memory-fraction 1 \
    --max-concurrent-requests 128 \
    --hostname 0.0.0.0 \
    --port 80
