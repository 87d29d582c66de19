#!/bin/sh
# vLLM 0.33.0: Llama 3.1 405B Instruct (fp8) with vllm on 2x8xh100-sxm
# Settings from sizer's estimate: max model length 8,192, 1024 sequences at most, tensor parallel 8 x pipeline parallel 2, 0.92 of each GPU's memory, KV cache auto.
# Install: pip install vllm==0.33.0 (the version these flags were checked against).
# Run on the head node, then run-worker.sh on the other 1 node(s).
set -eu

ray start --head --port=6379
echo 'waiting for 16 GPUs (2 nodes) to join the Ray cluster'
until python3 -c 'import ray, sys; ray.init(address="auto", logging_level="ERROR"); sys.exit(0 if ray.cluster_resources().get("GPU", 0) >= 16 else 1)' >/dev/null 2>&1; do sleep 5; done
exec vllm serve meta-llama/Llama-3.1-405B-Instruct \
    --served-model-name meta-llama/Llama-3.1-405B-Instruct \
    --max-model-len 8192 \
    --gpu-memory-utilization 0.92 \
    --tensor-parallel-size 8 \
    --pipeline-parallel-size 2 \
    --quantization fp8 \
    --kv-cache-dtype auto \
    --max-num-seqs 1024 \
    --max-num-batched-tokens 8192 \
    --distributed-executor-backend ray \
    --host 0.0.0.0 \
    --port 8000
