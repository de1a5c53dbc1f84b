"""The commands that evaluate or train one model outside the loop: `rzero eval`, `rzero sft`,
`rzero pretrain-base` (their arguments checked first, as every command's: `rzero.cliargs`)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from rzero.cliargs import config_file, existing_file, integer, model_folder, output_file, output_folder, positive_number
from rzero.config.load import DEFAULT_CONFIG


def eval_command(args: argparse.Namespace) -> int:
    """One model through the loop's evaluation stage (`pipeline.run_evaluate`), configured like
    `rzero run`: the config file and dotted overrides (model.path, eval.*, domain, seed, ...)."""
    from rzero.config.load import load_config
    from rzero.config.schema import ConfigError
    from rzero.core.records import EvaluateMetrics
    from rzero.engines.generation import set_threads
    from rzero.observe.tables import print_benchmarks, print_figures
    from rzero.plan.preflight import check_inputs, check_writable_file, local_model
    from rzero.run.inputs import base_model, build_domain
    from rzero.run.pipeline import run_evaluate

    try:
        cfg = load_config(args.config or DEFAULT_CONFIG, args.overrides)
        check_inputs(cfg)
        if args.json:  # before the evaluation: its figures are lost when they cannot be written
            check_writable_file(args.json, "--json")
        if cfg.domain == "math" and not cfg.eval.benchmarks:
            raise ConfigError("the math domain is evaluated on benchmarks: set eval.benchmarks (e.g. gsm8k,math500)")
        cfg = local_model(cfg)
    except ConfigError as error:
        print(f"rzero eval: {error}", file=sys.stderr)
        return 2
    threads = set_threads(cfg.model.threads)
    model_dir = base_model(cfg)
    ev = cfg.eval
    print(
        f"rzero eval: model {model_dir}  domain {cfg.domain}  held-out {ev.heldout_file or 'the domain set'}"
        f"{f' (subset of {ev.problems})' if ev.problems else ''}  benchmarks {ev.benchmarks or '-'}  "
        f"{ev.votes_per_question} votes at T={ev.temperature}  {ev.challenger_samples} Challenger samples  "
        f"{threads} threads",
        flush=True,
    )
    started = time.time()
    metrics = EvaluateMetrics()

    def save() -> None:  # before anything that can still fail: figures are never lost
        if args.json:
            args.json.write_text(json.dumps(metrics.model_dump(), indent=2) + "\n")

    try:
        run_evaluate(
            cfg,
            build_domain(cfg),
            0,
            solver=model_dir,
            challenger=model_dir,
            curriculum=[],
            folder=None,
            metrics=metrics,
        )
    except (ValueError, FileNotFoundError) as error:
        save()  # the figures already computed
        print(f"rzero eval: {error}", file=sys.stderr)
        return 2
    metrics.seconds = round(time.time() - started, 1)
    save()
    print_figures(metrics)
    print_benchmarks([("model", metrics)])
    return 0


def sft_command(args: argparse.Namespace) -> int:
    from rzero.config.schema import EvalConfig
    from rzero.core.domains import get_domain
    from rzero.core.rundir import atomic_write_json
    from rzero.engines.generation import HFGenerator, set_threads
    from rzero.engines.sft import SFTSettings, fine_tune, labelled_rows
    from rzero.plan.preflight import check_output
    from rzero.run.inputs import embedded_base_path
    from rzero.stages.evaluate import evaluate_model

    set_threads(args.threads)
    model_dir = args.model or embedded_base_path()
    out = args.out
    if (out / "model").exists() and not args.overwrite:
        print(f"rzero sft: {out / 'model'} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    domain = get_domain(args.domain)
    try:
        check_output(out, "--out", create=False)
        settings = SFTSettings(args.epochs, args.examples_per_step, args.learning_rate, seed=args.seed)
        rows = labelled_rows(domain, args.examples, args.seed, args.data)
    except (ValueError, OSError) as error:
        print(f"rzero sft: {error}", file=sys.stderr)
        return 2
    print(f"rzero sft: {model_dir} on {len(rows)} labelled examples -> {out / 'model'}", flush=True)
    figures = fine_tune(model_dir, rows, settings, out)
    generator = HFGenerator.from_pretrained(out / "model", seed=args.seed, label="sft evaluate")
    held = evaluate_model(generator, domain, EvalConfig(max_new_tokens=args.max_new_tokens), []).heldout
    figures["heldout"] = held.model_dump()
    atomic_write_json(out / "sft.json", figures)
    levels = " ".join(f"{v:.2f}" for v in (held.accuracy_by_difficulty or {}).values())
    print(f"held-out greedy {held.greedy_accuracy:.3f}  by difficulty {levels}  ({figures['seconds']:.0f} s)")
    return 0


def pretrain_command(args: argparse.Namespace) -> int:
    from rzero.base_model.pretrain import EMBEDDED_RECIPE, load_recipe, pretrain
    from rzero.config.schema import ConfigError
    from rzero.plan.preflight import check_output

    given = {"seed": args.seed, "steps": args.steps, "threads": args.threads}
    overrides = {k: v for k, v in given.items() if v is not None}
    recipe = args.recipe or EMBEDDED_RECIPE
    try:
        phases = load_recipe(recipe, **overrides)
    except ValueError as err:
        print(f"rzero pretrain-base: {err}", file=sys.stderr)
        return 2
    if len(phases) > 1 and (args.seed is not None or args.steps is not None):
        print(
            f"rzero pretrain-base: --seed and --steps apply to a one-phase recipe; {recipe} has "
            f"{len(phases)} phases: set them in each phase",
            file=sys.stderr,
        )
        return 2
    out = args.out
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        print(f"rzero pretrain-base: {out} is not empty; pass --overwrite to replace it", file=sys.stderr)
        return 2
    try:
        check_output(out, "--out", create=False)
    except ConfigError as error:
        print(f"rzero pretrain-base: {error}", file=sys.stderr)
        return 2
    try:
        record = pretrain(phases, out, init=args.init)
    except ValueError as err:  # a recipe whose shape does not fit the --init model
        print(f"rzero pretrain-base: {err}", file=sys.stderr)
        return 2
    print(json.dumps({k: record[k] for k in ("parameters", "tokens_seen", "final_loss", "wall_seconds")}))
    return 0


def add_model_commands(sub) -> None:
    """The commands that evaluate or train one model outside the loop: eval, sft, pretrain-base."""
    ev = sub.add_parser(
        "eval",
        help="evaluate one model as the loop's evaluation stage does (held-out set, benchmarks, question validity)",
        description="Evaluate one model with the loop's evaluation stage, configured like `rzero run`: "
        "e.g. `rzero eval model.path=DIR eval.votes_per_question=10 eval.challenger_samples=500`; "
        "`rzero eval --config RUN/config.yaml model.path=RUN/iter_03/solver/model` evaluates a run's checkpoint "
        "exactly as the run did; `--config configs/qwen3-4b-base.yaml model.path=DIR` gives the paper's benchmarks.",
    )
    ev.add_argument("--config", type=config_file, help="YAML config file or a shipped one's name (default: default)")
    ev.add_argument("--json", type=output_file, help="also write the figures to this file")
    ev.add_argument(
        "overrides", nargs="*", help="section.field=value overrides: model.path=DIR, eval.votes_per_question=10, ..."
    )
    ev.set_defaults(func=eval_command)

    sf = sub.add_parser("sft", help="supervised fine-tuning on a small labelled set, then held-out accuracy")
    sf.add_argument("--model", type=model_folder, help="model folder to fine-tune (default: the embedded base model)")
    sf.add_argument(
        "--out", type=output_folder, required=True, help="output folder (model/, sft.json, train_log.jsonl)"
    )
    sf.add_argument("--domain", default="arithmetic", choices=["arithmetic", "math"])
    sf.add_argument("--data", type=existing_file, help="JSONL of {question, solution} (default: oracle-generated)")
    sf.add_argument("--examples", type=integer(1), default=300, help="generated labelled examples")
    sf.add_argument("--epochs", type=positive_number, default=3.0)
    sf.add_argument("--examples-per-step", type=integer(1), default=16)
    sf.add_argument("--learning-rate", type=positive_number, default=3e-4)
    sf.add_argument("--max-new-tokens", type=integer(1), default=320)
    sf.add_argument("--seed", type=int, default=0)
    sf.add_argument("--threads", type=integer(0), default=0, help="torch threads (0 = all cores)")
    sf.add_argument("--overwrite", action="store_true")
    sf.set_defaults(func=sft_command)

    pt = sub.add_parser(
        "pretrain-base",
        help="pretrain a base model for the arithmetic or skills domain (CPU); default: the embedded one",
    )
    pt.add_argument("--out", type=output_folder, required=True, help="output folder")
    pt.add_argument(
        "--recipe",
        type=existing_file,
        help='JSON recipe: PretrainConfig fields, or {"phases": [...]} (default: configs/pretrain/embedded.json)',
    )
    pt.add_argument("--init", type=model_folder, help="continue this model folder's weights and tokenizer")
    pt.add_argument("--seed", type=int)
    pt.add_argument("--steps", type=integer(1))
    pt.add_argument("--threads", type=integer(1))
    pt.add_argument("--overwrite", action="store_true")
    pt.set_defaults(func=pretrain_command)
