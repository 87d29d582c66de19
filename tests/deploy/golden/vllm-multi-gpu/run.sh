#!/bin/sh
# vLLM 0.33.0: Llama 3.3 70B Instruct (bf16) with vllm on 4xa100-sxm-80gb
# Settings from sizer's estimate: max model length 16,384, 256 sequences at most, tensor parallel 4 x pipeline parallel 1, 0.9 of each GPU's memory, KV cache fp8.
# Install: pip install vllm==0.33.0 (the version these flags were checked against).
set -eu

exec vllm serve meta-llama/Llama-3.3-70B-Instruct \
    --served-model-name meta-llama/Llama-3.3-70B-Instruct \
    --max-model-len 16384 \
    --gpu-memory-utilization 0.9 \
    --tensor-parallel-size 4 \
    --pipeline-parallel-size 1 \
    --dtype bfloat16 \
    --kv-cache-dtype fp8 \
    --max-num-seqs 256 \
    --max-num-batched-tokens 2048 \
    --host 0.0.0.0 \
    --port 8000
