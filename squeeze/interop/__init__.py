"""Hugging Face in and out: the exact Llama/Qwen3 mapping and reading a local HF folder (hf.py), and `squeeze
export` (export.py)."""
