"""The machinery the stages run on: text generation (Hugging Face, vLLM, HTTP), engines sharded over
GPUs, child processes, and training (`grpo`, the one place TRL's GRPOTrainer is configured; `sft`)."""
