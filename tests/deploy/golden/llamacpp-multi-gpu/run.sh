#!/bin/sh
# llama.cpp llama-server: Qwen2.5 32B Instruct (Q4_K_M) with llama.cpp on 2xrtx-3090@128
# Settings from sizer's estimate: 8,192 tokens per sequence x 1 parallel sequence(s) (8,192 KV cells in total), 65 of 65 layers on the GPU(s) (output layer included), KV cache f16/f16, flash attention on; placement multi-gpu.
# Needs llama-server from llama.cpp at or after commit 0c1e570 (2026-10-01), the one these flags were checked against.
set -eu

exec llama-server \
    --hf-repo Qwen/Qwen2.5-32B-Instruct:Q4_K_M \
    --alias qwen2.5-32b-instruct \
    --ctx-size 8192 \
    --parallel 1 \
    --n-gpu-layers 65 \
    --split-mode layer \
    --tensor-split 1,1 \
    --flash-attn on \
    --cache-type-k f16 \
    --cache-type-v f16 \
    --batch-size 2048 \
    --ubatch-size 512 \
    --fit off \
    --host 0.0.0.0 \
    --port 8080
