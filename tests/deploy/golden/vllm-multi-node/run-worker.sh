#!/bin/sh
# vLLM 0.33.0 worker: Llama 3.1 405B Instruct (fp8) with vllm on 2x8xh100-sxm
# Run on each of the other 1 node(s): HEAD_NODE_IP=<head address> ./run-worker.sh
set -eu

: "${HEAD_NODE_IP:?set HEAD_NODE_IP to the head node's address}"
exec ray start --address="$HEAD_NODE_IP:6379" --block
