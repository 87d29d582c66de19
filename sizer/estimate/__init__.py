"""The memory rules engine: weights, KV cache and runtime buffers of a model on an engine."""
