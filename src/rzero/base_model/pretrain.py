"""`rzero pretrain-base`: pretrain the embedded default base model from scratch on CPU.

R-Zero starts from a *pretrained base model* that can both pose problems and attempt them. No small
model can be downloaded here, so rzero makes its own: a byte-level BPE tokenizer (digits always
single tokens) and a tiny Llama-architecture causal LM, trained on a procedurally generated corpus
that mixes two kinds of document drawn from the `arithmetic` domain:

- posing documents: the Challenger prompt followed by `<question>...</question>`;
- solving documents: the Solver prompt followed by the worked scratchpad and `\\boxed{answer}`;
  a small share (`slip_fraction`) carries one slip (a step result off by 1, 2 or 10, carried through),
  as real text does, so that sampled solutions err now and then while the likeliest stays right.

Documents cover levels 1-6 (number of operations), levels 5 and 6 rarely, and never the held-out
levels 7 and 8, so the model is imperfect on longer problems and cannot solve the longest well: that
is the room the Challenger-Solver loop has to find and fill by itself. Held-out questions never appear in the
corpus. Everything is deterministic for a seed on a fixed thread count.

Other recipes (`rzero pretrain-base --recipe FILE`, a JSON object of PretrainConfig fields) explore
issue 13's testbeds: `operators` (e.g. `+ -` only), `worked_fraction` (per level, the share of solving
documents that show the worked steps; the rest are answer-only documents, `\\boxed{answer}` right
after `Solution:`), `posing_level_weights` (the Challenger documents' own level mix), `rope_theta`
and `solution_style`. With none of them set the corpus is exactly the shipped model's. A recipe with
`"domain": "skills"` draws the skills testbed's corpus instead (`rzero.core.domains.skills.corpus`,
family numbers in place of levels; recipe `configs/pretrain/skills.json`, issue 31).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from rzero.config.load import SHIPPED
from rzero.core.domains import Problem, skills
from rzero.core.domains.arithmetic import (
    OPERATORS,
    PRETRAIN_LEVELS,
    SLIP_OFFSETS,
    ArithmeticDomain,
    level_spec,
    make_heldout,
    sample_problem,
)
from rzero.core.domains.skills import FAMILIES

EMBEDDED_RECIPE = SHIPPED / "pretrain" / "embedded.json"  # the shipped model's recipe
EOS = "<|endoftext|>"  # also the beginning-of-text token, as in GPT-2
PAD = "<|pad|>"


@dataclass
class PretrainConfig:
    """Everything that determines the embedded base model (recorded in its model card)."""

    seed: int = 0
    threads: int = 2
    # the corpus's domain: "arithmetic" (the embedded default) or "skills" (issue 31's testbed, whose
    # family numbers 1..12 key the level-keyed fields below; operators, slips, openers and solution
    # styles are arithmetic's own and do not apply to it)
    domain: Literal["arithmetic", "skills"] = "arithmetic"
    # corpus
    documents: int = 400_000
    posing_fraction: float = 0.2
    # share of solving documents with one slip (a step result off by SLIP_OFFSETS, carried through):
    # sampled solutions then err now and then while the most likely one stays right, so that a
    # majority of samples beats a single sample, as with real base models trained on real text
    slip_fraction: float = 0.05
    level_weights: dict[int, float] = field(default_factory=lambda: {1: 1.0, 2: 1.0, 3: 1.5, 4: 1.5, 5: 0.6, 6: 0.3})
    operators: tuple[str, ...] = ("+", "-", "*")
    posing_level_weights: dict[int, float] = field(default_factory=dict)  # empty: as level_weights
    # share of solving documents at each level that show the worked solution; the rest give the
    # answer alone (`\\boxed{answer}` right after `Solution:`); levels not listed: 1.0
    worked_fraction: dict[int, float] = field(default_factory=dict)
    # levels of a held-out set `make_heldout(levels=heldout_levels, operators=operators)` that the
    # corpus must also avoid (a testbed evaluated with eval.heldout_file); the shipped file always is
    heldout_levels: tuple[int, ...] = ()
    rope_theta: float = 10000.0
    # "rewrite": each line does one operation and rewrites the rest of the expression (the shipped
    # format); "running": one `a op b = r` line per operation, the rest never rewritten (measured in
    # issue 13: a 3M model never learns to find the k-th operand that way)
    solution_style: Literal["rewrite", "running"] = "rewrite"
    # the boxed number of an answer-only document: "exact", the question's value (issue 13's D3/D4:
    # the model learnt to guess near the result and the guessing leaked into its worked steps), or
    # "scattered", the value of another problem of the same level (nothing to learn from it, so a
    # hasty answer is a guess whose errors scatter: issue 21)
    hasty_answers: Literal["exact", "scattered"] = "exact"
    # lines a worked solution may open with, one drawn uniformly per document (empty: none). Several
    # equivalent openers with distinct first tokens split the worked mass at the first token, so that
    # greedy decoding takes the one hasty path even where most documents work the problem out
    worked_openers: tuple[str, ...] = ()
    tokenizer_vocab_size: int = 320
    # model (Llama architecture)
    hidden_size: int = 256
    intermediate_size: int = 688
    layers: int = 4
    attention_heads: int = 4
    max_positions: int = 512
    # optimisation
    tokens_per_step: int = 4096
    steps: int = 3000
    learning_rate: float = 1.5e-3
    min_learning_rate: float = 1.5e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    # monitoring only: greedy accuracy on fresh pretraining-level problems (never the held-out set)
    monitor_every: int = 250
    monitor_problems: int = 64

    def __post_init__(self) -> None:
        if self.domain not in ("arithmetic", "skills"):
            raise ValueError(f"domain must be 'arithmetic' or 'skills', got {self.domain!r}")
        levels = PRETRAIN_LEVELS if self.domain == "arithmetic" else tuple(range(1, len(FAMILIES) + 1))
        for name in ("level_weights", "posing_level_weights", "worked_fraction"):
            unknown = sorted(set(getattr(self, name)) - set(levels))
            if unknown:
                raise ValueError(f"{name}: levels {unknown} are outside {self.domain}'s levels {levels}")
        if not set(self.heldout_levels) <= set(PRETRAIN_LEVELS):
            raise ValueError(f"heldout_levels must lie in PRETRAIN_LEVELS {PRETRAIN_LEVELS}, got {self.heldout_levels}")
        if not self.operators or not set(self.operators) <= set(OPERATORS):
            raise ValueError(f"operators must be a non-empty subset of {OPERATORS}, got {self.operators}")
        if self.solution_style not in ("rewrite", "running"):
            raise ValueError(f"solution_style must be 'rewrite' or 'running', got {self.solution_style!r}")
        if self.hasty_answers not in ("exact", "scattered"):
            raise ValueError(f"hasty_answers must be 'exact' or 'scattered', got {self.hasty_answers!r}")
        if any(not isinstance(o, str) or not o.strip() or "\n" in o or "\\boxed" in o for o in self.worked_openers):
            raise ValueError(
                f"worked_openers must be non-empty one-line texts without \\boxed, got {self.worked_openers}"
            )
        if any(not 0.0 <= v <= 1.0 for v in self.worked_fraction.values()):
            raise ValueError(f"worked_fraction values must be in [0, 1], got {self.worked_fraction}")
        if not 0.0 <= self.slip_fraction <= 1.0:
            raise ValueError(f"slip_fraction must be in [0, 1], got {self.slip_fraction}")
        if not 0.0 <= self.posing_fraction <= 1.0:
            raise ValueError(f"posing_fraction must be in [0, 1], got {self.posing_fraction}")


def load_recipe(path: str | Path, **overrides) -> list[PretrainConfig]:
    """The phases of a JSON recipe file: an object of PretrainConfig fields (one phase), or
    `{"phases": [object, ...]}`, where each phase after the first continues the previous phase's
    model (tokenizer and weights) on its own corpus and schedule. Level-keyed fields may use string
    keys, as JSON must; `overrides` apply to every phase. Unknown fields and bad values raise
    ValueError naming the field, the phase and the file."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"recipe {path}: cannot read it as JSON ({err})") from err
    if isinstance(data, dict) and set(data) == {"phases"}:
        phases = data["phases"]
        if not isinstance(phases, list) or not phases:
            raise ValueError(f"recipe {path}: 'phases' must be a non-empty list of objects")
        return [_phase_config(phase, f"recipe {path}, phase {n}", overrides) for n, phase in enumerate(phases, 1)]
    return [_phase_config(data, f"recipe {path}", overrides)]


def _phase_config(data, where: str, overrides: dict) -> PretrainConfig:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object of PretrainConfig fields")
    known = set(PretrainConfig.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: unknown fields {unknown}")
    data = dict(data)
    try:
        for name in ("level_weights", "posing_level_weights", "worked_fraction"):
            if name in data:
                data[name] = {int(level): float(value) for level, value in data[name].items()}
        for name in ("operators", "heldout_levels", "worked_openers"):
            if name in data:
                data[name] = tuple(data[name])
        return PretrainConfig(**{**data, **overrides})
    except (TypeError, ValueError, AttributeError) as err:
        raise ValueError(f"{where}: {err}") from err


def corpus_documents(cfg: PretrainConfig, exclude: set[str]) -> list[str]:
    """The pretraining corpus: posing and solving documents, no question of `exclude`.

    Without `posing_level_weights` one level draw serves both roles, and without `worked_fraction`
    no draw decides worked or answer-only: the random stream is then exactly that of the recipe
    that built the shipped model, which stays reproducible."""
    rng = random.Random(cfg.seed)
    if cfg.domain == "skills":
        weights = (cfg.level_weights, cfg.posing_level_weights, cfg.worked_fraction)
        return skills.corpus(rng, cfg.documents, cfg.posing_fraction, *weights, exclude)
    domain = ArithmeticDomain()
    solving = (sorted(cfg.level_weights), [cfg.level_weights[k] for k in sorted(cfg.level_weights)])
    posing = [sorted(cfg.posing_level_weights), [cfg.posing_level_weights[k] for k in sorted(cfg.posing_level_weights)]]
    docs = []
    while len(docs) < cfg.documents:
        pose = bool(cfg.posing_level_weights) and rng.random() < cfg.posing_fraction
        level = rng.choices(*(posing if pose else solving))[0]  # posing is used only when it has weights
        question, _ = sample_problem(rng, level_spec(level, cfg.operators))
        if question in exclude:
            continue
        if not cfg.posing_level_weights:
            pose = rng.random() < cfg.posing_fraction
        if pose:
            docs.append(domain.posing_document(question))
        elif cfg.worked_fraction and rng.random() >= cfg.worked_fraction.get(level, 1.0):
            scattered = cfg.hasty_answers == "scattered"
            guess = sample_problem(rng, level_spec(level, cfg.operators))[1] if scattered else None
            docs.append(domain.answer_only_document(question, guess))
        else:
            slip = (rng.randrange(level), rng.choice(SLIP_OFFSETS)) if rng.random() < cfg.slip_fraction else None
            opener = rng.choice(cfg.worked_openers) if cfg.worked_openers else ""
            docs.append(domain.solving_document(question, slip, cfg.solution_style, opener))
    return docs


def build_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE with single-digit tokens; encoding prepends EOS as the start-of-text mark."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    eos_id = tok.token_to_id(EOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{EOS} $A", pair=f"{EOS} $A {EOS} $B", special_tokens=[(EOS, eos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, pad_token=PAD, padding_side="left"
    )


def build_model(cfg: PretrainConfig, tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.attention_heads,
        num_key_value_heads=cfg.attention_heads,
        max_position_embeddings=cfg.max_positions,
        rope_theta=cfg.rope_theta,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def token_batches(ids: list[list[int]], tokens_per_step: int, pad_id: int, seed: int) -> list[torch.Tensor]:
    """Length-bucketed batches of about `tokens_per_step` tokens (little padding), shuffled."""
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    batches, current, longest = [], [], 0
    for i in order:
        longest_if_added = max(longest, len(ids[i]))
        if current and longest_if_added * (len(current) + 1) > tokens_per_step:
            batches.append(current)
            current, longest_if_added = [], len(ids[i])
        current.append(i)
        longest = longest_if_added
    if current:
        batches.append(current)
    random.Random(seed).shuffle(batches)
    tensors = []
    for batch in batches:
        width = max(len(ids[i]) for i in batch)
        rows = [ids[i] + [pad_id] * (width - len(ids[i])) for i in batch]
        tensors.append(torch.tensor(rows, dtype=torch.long))
    return tensors


def learning_rate(cfg: PretrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to `min_learning_rate`."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return cfg.min_learning_rate + (cfg.learning_rate - cfg.min_learning_rate) * cosine


def monitor_accuracy(model, tokenizer, cfg: PretrainConfig) -> float:
    """Greedy accuracy on fresh problems of the pretraining levels (a training curve, nothing more)."""
    from rzero.engines.generation import HFGenerator
    from rzero.stages.evaluate import greedy_accuracy

    domain = skills.SkillsDomain() if cfg.domain == "skills" else ArithmeticDomain()
    rng = random.Random(cfg.seed + 1_000_000)
    problems = []
    levels = sorted(cfg.level_weights)
    for i in range(cfg.monitor_problems):
        level = levels[i % len(levels)]
        if cfg.domain == "skills":
            question, answer = skills.sample_question(rng, level)
        else:
            question, answer = sample_problem(rng, level_spec(level, cfg.operators))
        problems.append(Problem(question, str(answer), level))
    model.eval()
    accuracy = greedy_accuracy(HFGenerator(model, tokenizer), domain, problems, max_new_tokens=160)
    model.train()
    return accuracy


def excluded_questions(cfg: PretrainConfig) -> set[str]:
    """Questions no document may use: the shipped held-out set, and the recipe's own held-out set
    (`heldout_levels`, drawn as `scripts/make_heldout.py` draws it) when it names one."""
    if cfg.domain == "skills":
        return {p.question for p in skills.SkillsDomain().heldout()}
    excluded = {p.question for p in ArithmeticDomain().heldout()}
    if cfg.heldout_levels:
        excluded |= {p.question for p in make_heldout(levels=cfg.heldout_levels, operators=cfg.operators)}
    return excluded


def _starting_point(cfg: PretrainConfig, docs: list[str], init: Path | None):
    """A new tokenizer and a freshly initialised model, or (continued pretraining) the tokenizer and
    weights of the model folder `init`, whose architecture the recipe's fields must then match."""
    if init is None:
        tokenizer = build_tokenizer(docs[:20_000], cfg.tokenizer_vocab_size)
        return tokenizer, build_model(cfg, tokenizer)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(init)
    model = LlamaForCausalLM.from_pretrained(init, dtype=torch.float32)
    shape = model.config
    mine = (cfg.hidden_size, cfg.intermediate_size, cfg.layers, cfg.attention_heads)
    theirs = (shape.hidden_size, shape.intermediate_size, shape.num_hidden_layers, shape.num_attention_heads)
    if mine != theirs:
        raise ValueError(
            f"continued pretraining from {init}: its shape (hidden, MLP, layers, heads) {theirs} "
            f"is not the recipe's {mine}"
        )
    return tokenizer, model


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def train(cfg: PretrainConfig, out_dir: Path, log_every: int = 50, init: Path | None = None) -> dict:
    """Build corpus, tokenizer and model (or continue the model in `init`), train, save to
    `out_dir`; returns the training record."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    started = time.time()
    docs = corpus_documents(cfg, exclude=excluded_questions(cfg))
    tokenizer, model = _starting_point(cfg, docs, init)
    ids = [row + [tokenizer.eos_token_id] for row in tokenizer(docs)["input_ids"]]
    params = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.learning_rate,
        betas=(0.9, 0.95),
    )
    pad_id = tokenizer.pad_token_id
    batches: list[torch.Tensor] = []
    epoch, losses, tokens_seen, curve = 0, [], 0, []
    model.train()
    for step in range(cfg.steps):
        if not batches:
            batches = token_batches(ids, cfg.tokens_per_step, pad_id, seed=cfg.seed + epoch)
            epoch += 1
        batch = batches.pop()
        mask = batch != pad_id
        labels = batch.masked_fill(~mask, -100)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cfg, step)
        loss = model(input_ids=batch, attention_mask=mask.long(), labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        tokens_seen += int(mask.sum())
        if log_every and (step + 1) % log_every == 0:
            recent = sum(losses[-log_every:]) / log_every
            print(
                f"step {step + 1}/{cfg.steps} loss {recent:.4f} lr {learning_rate(cfg, step):.2e} "
                f"epoch {epoch} {time.time() - started:.0f}s",
                flush=True,
            )
        if cfg.monitor_every and (step + 1) % cfg.monitor_every == 0:
            curve.append((step + 1, monitor_accuracy(model, tokenizer, cfg)))
            print(f"step {step + 1} monitor greedy accuracy {curve[-1][1]:.3f}", flush=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.generation_config.pad_token_id = pad_id
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    record = {
        "config": asdict(cfg),
        **({"init": {"path": str(init), "sha256": file_sha256(init / "model.safetensors")}} if init else {}),
        "parameters": params,
        "vocab_size": len(tokenizer),
        "corpus_documents": len(docs),
        "tokens_seen": tokens_seen,
        "epochs_started": epoch,
        "final_loss": sum(losses[-50:]) / min(50, len(losses)),
        "monitor_accuracy": curve,
        "wall_seconds": round(time.time() - started, 1),
        "torch_version": torch.__version__,
    }
    (out_dir / "pretrain_record.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def pretrain(phases: list[PretrainConfig], out_dir: Path, init: Path | None = None, log_every: int = 50) -> dict:
    """Run a recipe's phases in order, the first from scratch (or from the model folder `init`),
    each later one continuing the previous phase's model; the last phase writes `out_dir`. Earlier
    phases' models live in a scratch folder. A one-phase recipe writes the record `train` writes;
    several phases write one record with each phase's record under `phases`."""
    if len(phases) == 1:
        return train(phases[0], out_dir, log_every, init)
    records = []
    with tempfile.TemporaryDirectory(prefix="rzero-pretrain-") as scratch:
        start = init
        for number, cfg in enumerate(phases, 1):
            print(f"phase {number} of {len(phases)}", flush=True)
            folder = out_dir if number == len(phases) else Path(scratch) / f"phase_{number}"
            records.append(train(cfg, folder, log_every, start))
            if start is not None and number > 1:
                records[-1]["init"]["path"] = f"phase {number - 1}"
            start = folder
    record = {
        "phases": records,
        "parameters": records[-1]["parameters"],
        "vocab_size": records[-1]["vocab_size"],
        "tokens_seen": sum(r["tokens_seen"] for r in records),
        "final_loss": records[-1]["final_loss"],
        "wall_seconds": round(sum(r["wall_seconds"] for r in records), 1),
        "torch_version": torch.__version__,
    }
    (out_dir / "pretrain_record.json").write_text(json.dumps(record, indent=2) + "\n")
    return record
