"""How the stages ask a model for text, without naming a backend: `Sampling` (how to sample),
`Completion` (one sampled text and its token count) and the `Generator` protocol that every backend
implements (`rzero.engines.generation`: Hugging Face, vLLM; `rzero.engines.remote`: HTTP). No torch:
the voting and the stages type against these, and load in milliseconds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Sampling:
    """How to sample. temperature == 0 means greedy decoding (top_p is then ignored)."""

    samples_per_prompt: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256

    def __post_init__(self) -> None:
        if self.samples_per_prompt < 1:
            raise ValueError(f"samples_per_prompt must be >= 1, got {self.samples_per_prompt}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")


GREEDY = Sampling(samples_per_prompt=1, temperature=0.0)


@dataclass(frozen=True)
class Completion:
    text: str  # decoded new tokens, special tokens removed
    tokens: int  # generated tokens, the end-of-sequence token included when it was produced
    finished: bool  # True when generation stopped at end of sequence, not at max_new_tokens


class Generator(Protocol):
    def generate(self, prompts: Sequence[str], sampling: Sampling) -> list[list[Completion]]:
        """For each prompt, `sampling.samples_per_prompt` completions."""
        ...
