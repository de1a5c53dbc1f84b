"""The embedded base model's card (`README.md` in the model folder): recipe phases, training, figures.

Written from the model's `pretrain_record.json` (one record, or one per phase) and the figures of
`benchmarks/base_model.py`; the figures go in twice, as tables for people and as a JSON block between
markers that the tests compare with benchmarks/results/base_model.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from rzero.core.domains.arithmetic import OPERATORS, SLIP_OFFSETS

CARD_FIGURES_BEGIN = "<!-- figures:begin -->"
CARD_FIGURES_END = "<!-- figures:end -->"


def phase_records(record: dict) -> list[dict]:
    """The per-phase training records of a pretraining record (a one-phase record is its own phase)."""
    return record.get("phases", [record])


def _corpus_text(cfg: dict, record: dict) -> str:
    """One phase's corpus, in words."""
    weights = ", ".join(f"level {k}: {v}" for k, v in cfg["level_weights"].items())
    posing = ", ".join(f"level {k}: {v}" for k, v in cfg.get("posing_level_weights", {}).items()) or "the same"
    text = (
        f"{record['corpus_documents']:,} documents from `rzero.core.domains.arithmetic` (seed {cfg['seed']}): "
        f"{cfg['posing_fraction']:.0%} posing documents (`Pose a new arithmetic problem.` then "
        "`<question>...</question>`), the rest solving documents (`Problem: ...` / `Solution:` then one reduction "
        f"per line and `\\boxed{{answer}}`; {cfg.get('slip_fraction', 0.0):.0%} of them with one slip: a step "
        f"result off by one of {list(SLIP_OFFSETS)}, carried through to a wrong boxed answer). Operands 1..9, "
        f"operators {' '.join(cfg.get('operators', OPERATORS))}, every partial result within +-99. Solving "
        f"documents drawn with level weights {weights}; posing documents with level weights {posing}."
    )
    worked = cfg.get("worked_fraction", {})
    if worked:
        guess = (
            "the value of another problem of the same level (a guess whose errors scatter)"
            if cfg.get("hasty_answers") == "scattered"
            else "the question's value"
        )
        shares = ", ".join(f"{k}: {v}" for k, v in worked.items())
        text += (
            f" At each level the share of solving documents that show the worked steps is {shares}; the rest are "
            f"hasty answer-only documents, `\\boxed{{N}}` right after `Solution:`, where N is {guess}."
        )
    if cfg.get("worked_openers"):
        text += f" Worked solutions open with one of {', '.join(f'`{o}`' for o in cfg['worked_openers'])}."
    return text


def _training_text(cfg: dict, record: dict) -> str:
    start = "continued from the previous phase's weights and tokenizer; " if record.get("init") else ""
    return (
        f"{start}seed {cfg['seed']}, {cfg['steps']} steps of about {cfg['tokens_per_step']} tokens "
        f"({record['tokens_seen']:,} tokens seen), AdamW (betas 0.9/0.95, weight decay {cfg['weight_decay']}), "
        f"learning rate {cfg['learning_rate']} with {cfg['warmup_steps']} warm-up steps and cosine decay to "
        f"{cfg['min_learning_rate']}, gradient clip 1.0, {cfg['threads']} CPU threads, torch "
        f"{record['torch_version']}. Final loss {record['final_loss']:.4f}; wall time "
        f"{record['wall_seconds'] / 60:.1f} minutes."
    )


def _by_level_table(figures: dict) -> str:
    """Held-out accuracy, habit and skill per level, greedy and sampled, as a Markdown table."""
    levels = list(figures["accuracy_by_difficulty"])
    rows = [
        ("greedy accuracy", "accuracy_by_difficulty"),
        ("greedy answers that work it out", "worked_share_by_difficulty"),
        ("... and are right", "worked_accuracy_by_difficulty"),
        ("sampled answers that work it out", "sampled_worked_share_by_difficulty"),
        ("... and are right", "sampled_worked_accuracy_by_difficulty"),
    ]
    lines = [f"| level | {' | '.join(levels)} |", "|---" * (len(levels) + 1) + "|"]
    for name, key in rows:
        if key in figures:
            values = [figures[key].get(v) for v in levels]
            lines.append(f"| {name} | " + " | ".join("-" if x is None else f"{x:.2f}" for x in values) + " |")
    return "\n".join(lines)


CARD_FIGURE_KEYS = (
    "greedy_accuracy",
    "pass1_accuracy",
    "maj10_accuracy",
    "band_fraction",
    "band_majority_accuracy",
    "question_validity",
    "accuracy_by_difficulty",
    "worked_share_by_difficulty",
    "worked_accuracy_by_difficulty",
    "sampled_worked_share_by_difficulty",
    "sampled_worked_accuracy_by_difficulty",
)


def write_model_card(model_dir: Path, figures: dict) -> Path:
    """Write `README.md` (the model card) into `model_dir` from its pretraining record and `figures`.

    The figures go in twice: tables for people and a JSON block between markers, which the tests
    compare with benchmarks/results/base_model.json.
    """
    record = json.loads((model_dir / "pretrain_record.json").read_text())
    phases = phase_records(record)
    cfg = phases[-1]["config"]
    sections = []
    for number, phase in enumerate(phases, 1):
        title = f"### Phase {number} of {len(phases)}\n\n" if len(phases) > 1 else ""
        corpus, training = _corpus_text(phase["config"], phase), _training_text(phase["config"], phase)
        sections.append(f"{title}Corpus: {corpus}\n\nTraining: {training}")
    levels = sorted(int(k) for k in figures["accuracy_by_difficulty"])
    rows = "\n".join(
        f"| {key} | {figures[key]:.3f} |"
        for key in ("greedy_accuracy", "pass1_accuracy", "maj10_accuracy", "band_fraction", "band_majority_accuracy",
                    "question_validity")
        if figures.get(key) is not None
    )  # fmt: skip
    block = json.dumps({k: figures[k] for k in CARD_FIGURE_KEYS if k in figures}, indent=2)
    card = f"""---
library_name: transformers
pipeline_tag: text-generation
tags: [rzero, r-zero, arithmetic, tiny, llama]
---
# rzero embedded base model

A tiny Llama-architecture causal LM ({record["parameters"]:,} parameters, vocabulary {record["vocab_size"]})
pretrained from scratch on CPU by `rzero pretrain-base`. It is the starting point of `rzero run`: one model
that can both *pose* arithmetic problems (Challenger prompt) and *solve* them with a scratchpad (Solver
prompt). Its own majority vote knows better than its greedy answer: greedy decoding answers problems of
three or more operations hastily (a boxed guess), while most of its samples work the problem out and
agree on the right answer. That is the room R-Zero's Challenger-Solver loop has to find and use
without human data.

## Architecture

hidden size {cfg["hidden_size"]}, {cfg["layers"]} layers, {cfg["attention_heads"]} heads,
MLP {cfg["intermediate_size"]}, tied embeddings, {cfg["max_positions"]} positions, RoPE theta
{cfg.get("rope_theta", 10000.0):g}. Tokenizer: byte-level BPE built with `tokenizers` ({record["vocab_size"]}
tokens, digits always single tokens); `<|endoftext|>` starts every text and ends every document; `<|pad|>` pads.

## Recipe

{(chr(10) * 2).join(sections)}

The {figures["heldout_problems"]} held-out problems (levels {levels[0]}..{levels[-1]}) never appear in any
corpus. Total wall time {record["wall_seconds"] / 60:.1f} minutes.

Reproduce: `rzero pretrain-base --out DIR` (the recipe `configs/pretrain/embedded.json`), then
`python benchmarks/base_model.py --model DIR --update-card`.

## Figures on the held-out set

{figures["heldout_problems"]} problems. Greedy decoding for accuracy; {figures["votes_per_question"]} samples at
T = 1.0 for pass@1 (mean@10), maj@10, p_hat and the band (p_hat in [0.25, 0.75]); {figures["challenger_samples"]}
Challenger samples at T = 1.0 for validity.

| figure | value |
|---|---|
{rows}

By difficulty (number of operations): accuracy, and how it splits into habit (the share of answers that
work the problem out) and skill (the accuracy of those that do):

{_by_level_table(figures)}

{CARD_FIGURES_BEGIN}
```json
{block}
```
{CARD_FIGURES_END}
"""
    path = model_dir / "README.md"
    path.write_text(card)
    return path
