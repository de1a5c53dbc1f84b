"""The shipped base model (the checkpoint files in this folder) and the code that builds it:
`pretrain` (tokenizer, corpus, tiny Llama, training) and `modelcard` (its card)."""
