"""Command line: `rzero run | stage | worker | report | eval | sft | pretrain-base`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rzero.cliargs import (
    existing_file,
    existing_folder,
    integer,
    model_folder,
    one_line_errors,
    output_file,
    output_folder,
    positive_number,
)


def _cmd_eval(args: argparse.Namespace) -> int:
    from rzero.cliargs import benchmark_problem
    from rzero.config import EvalConfig
    from rzero.domains import get_domain, with_chat_template
    from rzero.evaluate import benchmark_figures, question_validity, score_problems, spread_subset, summarize
    from rzero.generation import HFGenerator, embedded_base_path, set_threads
    from rzero.tables import print_benchmarks, print_figures

    if args.domain == "math" and not args.benchmarks:
        print("rzero eval: the math domain is evaluated on benchmarks: pass --benchmarks", file=sys.stderr)
        return 2
    problem = benchmark_problem(args.benchmarks, args.data_dir)
    if problem:
        print(f"rzero eval: {problem}", file=sys.stderr)
        return 2
    threads = set_threads(args.threads)
    model_dir = args.model or embedded_base_path()
    domain = with_chat_template(get_domain(args.domain), model_dir, args.chat_template)
    problems = spread_subset(domain.heldout(), args.problems) if args.domain == "arithmetic" else []
    print(
        f"rzero eval: model {model_dir}  domain {domain.name}  {len(problems)} held-out problems  "
        f"benchmarks {args.benchmarks or '-'}  {args.votes} votes at T={args.temperature}  {threads} threads",
        flush=True,
    )
    started = time.time()
    generator = HFGenerator.from_pretrained(model_dir, seed=args.seed)

    def score(items, scorer):
        return score_problems(generator, scorer, items, args.votes, args.temperature, 1.0, args.max_new_tokens)

    def save(figures: dict) -> None:  # before anything that can still fail: figures are never lost
        if args.json and figures:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")

    figures: dict = {}
    if problems:
        figures.update(summarize(score(problems, domain)))
        figures.update(question_validity(generator, domain, samples=args.challenger_samples))
    if args.benchmarks:
        suites = EvalConfig(benchmarks=args.benchmarks, data_dir=args.data_dir, problems=args.problems)
        try:
            figures.update(benchmark_figures(score, domain, suites))
        except (ValueError, FileNotFoundError) as error:
            save(figures)  # the held-out figures already computed
            print(f"rzero eval: {error}", file=sys.stderr)
            return 2
    figures["wall_seconds"] = round(time.time() - started, 1)
    save(figures)
    if problems:
        print_figures(figures)
    if args.benchmarks:
        print_benchmarks([("model", figures)])
    return 0


DEFAULT_CONFIG = Path(__file__).parent / "configs" / "default.yaml"


def _cmd_run(args: argparse.Namespace) -> int:
    from rzero.config import ConfigError, load_config
    from rzero.loop import run

    try:
        cfg = load_config(args.config or DEFAULT_CONFIG, args.overrides)
        out = Path(args.out) if args.out else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
        if args.dry_run:
            from rzero.generation import embedded_base_path
            from rzero.plan import describe

            model_dir = embedded_base_path() if cfg.model.path == "embedded" else Path(cfg.model.path)
            print("\n".join(describe(cfg, model_dir)))
            return 0
        print(
            f"rzero run: {cfg.iterations} iterations on {cfg.domain} "
            f"({'embedded base model' if cfg.model.path == 'embedded' else cfg.model.path}) -> {out}",
            flush=True,
        )
        summary = run(cfg, out, resume=args.resume)
    except ConfigError as error:
        print(f"rzero run: {error}", file=sys.stderr)
        return 2
    from rzero.report import build_report
    from rzero.tables import print_results

    print_results(summary)

    print(f"report: {build_report([out])}")
    if "stopped" in summary:
        print(
            f"rzero run: stopped in iteration {summary['stopped']['iteration']}: {summary['stopped']['reason']}",
            file=sys.stderr,
        )
        return 1
    return 0


def _cmd_stage(args: argparse.Namespace) -> int:
    """One stage of one iteration of an existing run directory (what launch.mode subprocess runs)."""
    from rzero.config import ConfigError, load_config
    from rzero.generation import set_threads
    from rzero.grpo import PhaseFailed
    from rzero.loop import STAGE_FAILED
    from rzero.pipeline import build_domain, run_stage
    from rzero.rundir import RunDir

    run = RunDir(args.run)
    try:
        cfg = load_config(run.config_path)
    except ConfigError as error:
        print(f"rzero stage: {error}", file=sys.stderr)
        return 2
    if args.iteration > cfg.iterations:
        print(f"rzero stage: --iteration {args.iteration}: the run has {cfg.iterations} iterations", file=sys.stderr)
        return 2
    if args.iteration == 0 and args.name != "evaluate":
        print(f"rzero stage: --iteration 0 has only the evaluate stage, not {args.name}", file=sys.stderr)
        return 2
    if run.is_done(args.iteration, args.name):
        print(f"rzero stage: iteration {args.iteration} {args.name} is done already")
        return 0
    set_threads(cfg.model.threads)
    try:
        metrics = run_stage(cfg, run, build_domain(cfg), args.iteration, args.name)
    except PhaseFailed as error:
        print(str(error), flush=True)
        return STAGE_FAILED
    print(f"iteration {args.iteration} {args.name}: {metrics['seconds']:.0f}s")
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from rzero.worker import follow

    joined = follow(args.run, args.machine_rank, args.poll_seconds)
    print(f"rzero worker: the run in {args.run} has ended; joined {joined} GRPO phases")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from rzero.report import build_report

    try:
        page = build_report([Path(r) for r in args.runs], Path(args.out) if args.out else None)
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f"rzero report: {error}", file=sys.stderr)
        return 2
    print(f"report: {page}")
    return 0


def _cmd_sft(args: argparse.Namespace) -> int:
    from rzero.domains import get_domain
    from rzero.evaluate import score_problems, summarize
    from rzero.generation import HFGenerator, embedded_base_path, set_threads
    from rzero.rundir import atomic_write_json
    from rzero.sft import SFTSettings, fine_tune, labelled_rows

    set_threads(args.threads)
    model_dir = args.model or embedded_base_path()
    out = args.out
    if (out / "model").exists() and not args.overwrite:
        print(f"rzero sft: {out / 'model'} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    domain = get_domain(args.domain)
    try:
        settings = SFTSettings(args.epochs, args.examples_per_step, args.learning_rate, seed=args.seed)
        rows = labelled_rows(domain, args.examples, args.seed, args.data)
    except (ValueError, OSError) as error:
        print(f"rzero sft: {error}", file=sys.stderr)
        return 2
    print(f"rzero sft: {model_dir} on {len(rows)} labelled examples -> {out / 'model'}", flush=True)
    figures = fine_tune(model_dir, rows, settings, out)
    generator = HFGenerator.from_pretrained(out / "model", seed=args.seed, label="sft evaluate")
    results = score_problems(generator, domain, domain.heldout(), 0, 1.0, 1.0, args.max_new_tokens)
    figures["heldout"] = summarize(results)
    atomic_write_json(out / "sft.json", figures)
    held = figures["heldout"]
    levels = " ".join(f"{v:.2f}" for v in held["accuracy_by_difficulty"].values())
    print(f"held-out greedy {held['greedy_accuracy']:.3f}  by difficulty {levels}  ({figures['seconds']:.0f} s)")
    return 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
    from rzero.pretrain import PretrainConfig, load_recipe, train

    given = {"seed": args.seed, "steps": args.steps, "threads": args.threads}
    overrides = {k: v for k, v in given.items() if v is not None}
    try:
        cfg = load_recipe(args.recipe, **overrides) if args.recipe else PretrainConfig(**overrides)
    except ValueError as err:
        print(f"rzero pretrain-base: {err}", file=sys.stderr)
        return 2
    out = args.out
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        print(f"rzero pretrain-base: {out} is not empty; pass --overwrite to replace it", file=sys.stderr)
        return 2
    record = train(cfg, out)
    print(json.dumps({k: record[k] for k in ("parameters", "tokens_seen", "final_loss", "wall_seconds")}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rzero", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    rn = sub.add_parser("run", help="run the R-Zero self-evolution loop")
    rn.add_argument("--config", help="YAML config file (default: configs/default.yaml, the embedded default)")
    rn.add_argument("--out", help="run directory (default: runs/<timestamp>)")
    rn.add_argument("--resume", action="store_true", help="continue the run in --out, skipping finished stages")
    rn.add_argument("--dry-run", action="store_true", help="print the plan (stages, sequences, memory) and exit")
    rn.add_argument("overrides", nargs="*", help="section.field=value overrides, e.g. challenger.grpo_steps=3")
    rn.set_defaults(func=_cmd_run)

    st = sub.add_parser("stage", help="run one stage of one iteration of a run directory (used by launchers)")
    st.add_argument("name", choices=["challenger", "curriculum", "solver", "evaluate"])
    st.add_argument("--run", required=True, help="run directory (holds config.yaml)")
    st.add_argument("--iteration", type=integer(0), required=True)
    st.set_defaults(func=_cmd_stage)

    wk = sub.add_parser("worker", help="on nodes 1..N-1: join the multi-node GRPO phases of a run driven by node 0")
    wk.add_argument("--run", required=True, help="the run directory of `rzero run` on node 0 (shared file system)")
    wk.add_argument("--machine-rank", type=integer(1), required=True, help="this node's rank, 1..num_machines-1")
    wk.add_argument("--poll-seconds", type=positive_number, default=2.0)
    wk.set_defaults(func=_cmd_worker)

    rp = sub.add_parser("report", help="write RUN/report/report.html (plots embedded) and its PNGs")
    rp.add_argument("runs", nargs="+", type=existing_folder, help="run directories; the first is described")
    rp.add_argument("--out", type=output_folder, help="output folder (default: FIRST_RUN/report)")
    rp.set_defaults(func=_cmd_report)

    _add_model_commands(sub)
    one_line_errors(parser)
    return parser


def _add_model_commands(sub) -> None:
    """The commands that evaluate or train one model outside the loop: eval, sft, pretrain-base."""
    ev = sub.add_parser("eval", help="evaluate a model on the domain's held-out problems and/or benchmarks")
    ev.add_argument("--model", type=model_folder, help="Hugging Face model folder (default: the embedded base model)")
    ev.add_argument("--domain", default="arithmetic", choices=["arithmetic", "math"])
    ev.add_argument("--benchmarks", default="", help="comma-separated, e.g. gsm8k,math500,aime24,mmlu_pro,bbeh")
    ev.add_argument("--data-dir", default="../shared/data", help="folder of <benchmark>/test.jsonl")
    ev.add_argument("--chat-template", default="auto", choices=["auto", "never"])
    ev.add_argument("--votes", type=integer(0), default=10, help="sampled answers per problem (maj@k, mean@k)")
    ev.add_argument("--temperature", type=positive_number, default=1.0)
    ev.add_argument("--max-new-tokens", type=integer(1), default=320)
    ev.add_argument("--problems", type=integer(0), default=0, help="held-out subset / per-benchmark limit (0 = all)")
    ev.add_argument("--challenger-samples", type=integer(1), default=200)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--threads", type=integer(0), default=0, help="torch threads (0 = all cores)")
    ev.add_argument("--json", type=output_file, help="also write the figures to this file")
    ev.set_defaults(func=_cmd_eval)

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
    sf.set_defaults(func=_cmd_sft)

    pt = sub.add_parser("pretrain-base", help="pretrain the embedded base model from scratch (CPU)")
    pt.add_argument("--out", type=output_folder, required=True, help="output folder")
    pt.add_argument("--recipe", type=existing_file, help="JSON file of PretrainConfig fields (default: shipped)")
    pt.add_argument("--seed", type=int)
    pt.add_argument("--steps", type=integer(1))
    pt.add_argument("--threads", type=integer(1))
    pt.add_argument("--overwrite", action="store_true")
    pt.set_defaults(func=_cmd_pretrain)


def _quiet_libraries() -> None:
    """Keep the terminal for rzero's own lines and bars: no per-load progress bars or advisory
    warnings from transformers (errors still show)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or a bad argument (2, one line already printed)
        return int(stop.code or 0)
    if args.func is not _cmd_pretrain:
        _quiet_libraries()
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
