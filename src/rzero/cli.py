"""Command line: `rzero run | stage | worker | report | eval | sft | pretrain-base`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rzero.cliargs import (
    config_file,
    existing_file,
    existing_folder,
    integer,
    model_folder,
    one_line_errors,
    output_file,
    output_folder,
    positive_number,
)
from rzero.records import STAGES


def _cmd_eval(args: argparse.Namespace) -> int:
    """One model through the loop's evaluation stage (`pipeline.run_evaluate`), configured like
    `rzero run`: the config file and dotted overrides (model.path, eval.*, domain, seed, ...)."""
    from rzero.config import ConfigError, load_config
    from rzero.generation import set_threads
    from rzero.pipeline import base_model, build_domain, run_evaluate
    from rzero.preflight import check_inputs, check_writable_file, local_model
    from rzero.records import EvaluateMetrics
    from rzero.tables import print_benchmarks, print_figures

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
            args.json.write_text(json.dumps(metrics.to_json(), indent=2) + "\n")

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


DEFAULT_CONFIG = Path(__file__).parent / "configs" / "default.yaml"


@contextmanager
def _stop_signals(received: list[str]) -> Iterator[None]:
    """SIGTERM (`kill`, a job scheduler) and SIGINT (Ctrl-C) end `rzero run` by an exception, so that the
    servers and engines it started are stopped on the way out (Python's default for SIGTERM dies on the
    spot and leaves them running). The signal is also recorded in `received`: a library may turn the
    KeyboardInterrupt into another exception (an import interrupted inside a dataclass's __set_name__
    comes out of TRL as RuntimeError), and the run must still end as stopped. An ignored SIGINT (a
    shell's background job) stays ignored. The previous handlers come back afterwards."""
    import signal

    def stop(signum, frame):
        received.append(signal.Signals(signum).name)
        raise KeyboardInterrupt(f"stopped by {received[-1]}")

    taken = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        taken.append(signal.SIGINT)
    previous = {signum: signal.signal(signum, stop) for signum in taken}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _cmd_run(args: argparse.Namespace) -> int:
    from rzero.config import ConfigError, load_config
    from rzero.loop import run

    out = Path(args.out) if args.out else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    received: list[str] = []  # the stop signals that arrived during the run
    try:
        cfg = load_config(args.config or DEFAULT_CONFIG, args.overrides)
        if args.dry_run:
            from rzero.pipeline import base_model
            from rzero.plan import describe
            from rzero.preflight import dry_run_report

            checks, failed = dry_run_report(cfg, out)
            print("\n".join(describe(cfg, base_model(cfg)) + checks))
            return 2 if failed else 0
        print(
            f"rzero run: {cfg.iterations} iterations on {cfg.domain} "
            f"({'embedded base model' if cfg.model.path == 'embedded' else cfg.model.path}) -> {out}",
            flush=True,
        )
        with _stop_signals(received):
            summary = run(cfg, out, resume=args.resume)
    except ConfigError as error:
        print(f"rzero run: {error}", file=sys.stderr)
        return 2
    except Exception:
        if not received:  # a real failure: its traceback
            raise
        resume = f"finished stages are kept: rzero run --out {out} --resume"
        print(f"rzero run: stopped by {received[0]}; {resume}", file=sys.stderr)
        return 130
    except KeyboardInterrupt as stop:
        why = stop.args[0] if stop.args else "interrupted"
        print(f"rzero run: {why}; finished stages are kept: rzero run --out {out} --resume", file=sys.stderr)
        return 130
    from rzero.report import build_report
    from rzero.tables import print_results

    print_results(summary)

    print(f"report: {build_report([out])}")
    if summary.stopped:
        print(
            f"rzero run: stopped in iteration {summary.stopped['iteration']}: {summary.stopped['reason']}",
            file=sys.stderr,
        )
        return 1
    return 0


def _cmd_stage(args: argparse.Namespace) -> int:
    """One stage of one iteration of an existing run directory (what launch.mode subprocess runs)."""
    from rzero.config import ConfigError, load_config
    from rzero.generation import set_threads
    from rzero.grpo import PhaseFailed
    from rzero.launch import STAGE_FAILED
    from rzero.pipeline import build_domain, run_stage
    from rzero.preflight import check_output
    from rzero.rundir import RunDir

    run = RunDir(args.run)
    try:
        cfg = load_config(run.config_path)
        check_output(run.root, "--run", create=False)
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
    print(f"iteration {args.iteration} {args.name}: {metrics.seconds:.0f}s")
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from rzero.config import ConfigError
    from rzero.preflight import check_output
    from rzero.worker import follow

    try:  # it writes its launch logs there; node 0 may not have made the folder yet
        check_output(args.run, "--run", create=False)
    except ConfigError as error:
        print(f"rzero worker: {error}", file=sys.stderr)
        return 2
    joined = follow(args.run, args.machine_rank, args.poll_seconds)
    print(f"rzero worker: the run in {args.run} has ended; joined {joined} GRPO phases")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from rzero.preflight import check_output
    from rzero.report import build_report

    out = Path(args.out) if args.out else Path(args.runs[0]) / "report"
    try:
        check_output(out, "--out", create=False)
        page = build_report([Path(r) for r in args.runs], out)
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f"rzero report: {error}", file=sys.stderr)
        return 2
    print(f"report: {page}")
    return 0


def _cmd_sft(args: argparse.Namespace) -> int:
    from rzero.config import EvalConfig
    from rzero.domains import get_domain
    from rzero.evaluate import evaluate_model
    from rzero.generation import HFGenerator, embedded_base_path, set_threads
    from rzero.preflight import check_output
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
    figures["heldout"] = held.to_json()
    atomic_write_json(out / "sft.json", figures)
    levels = " ".join(f"{v:.2f}" for v in (held.accuracy_by_difficulty or {}).values())
    print(f"held-out greedy {held.greedy_accuracy:.3f}  by difficulty {levels}  ({figures['seconds']:.0f} s)")
    return 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
    from rzero.config import ConfigError
    from rzero.preflight import check_output
    from rzero.pretrain import EMBEDDED_RECIPE, load_recipe, pretrain

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rzero", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    rn = sub.add_parser("run", help="run the R-Zero self-evolution loop")
    rn.add_argument(
        "--config",
        type=config_file,
        help="YAML config file, or a shipped one by name: qwen3-4b-base (default: default, the embedded default)",
    )
    rn.add_argument("--out", help="run directory (default: runs/<timestamp>)")
    rn.add_argument("--resume", action="store_true", help="continue the run in --out, skipping finished stages")
    rn.add_argument("--dry-run", action="store_true", help="print the plan (stages, sequences, memory) and exit")
    rn.add_argument("overrides", nargs="*", help="section.field=value overrides, e.g. challenger.grpo_steps=3")
    rn.set_defaults(func=_cmd_run)

    st = sub.add_parser("stage", help="run one stage of one iteration of a run directory (used by launchers)")
    st.add_argument("name", choices=STAGES)
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

    pt = sub.add_parser(
        "pretrain-base", help="pretrain a base model for the arithmetic domain (CPU); default: the embedded one"
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
    try:
        return args.func(args)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM outside a command's own handling
        resume = f"; finished stages are kept: rzero run --out {args.out} --resume" if args.command == "run" else ""
        print(f"rzero {args.command}: interrupted{resume}", file=sys.stderr)
        return 130


def exit_with(code: int) -> None:
    """End `python -m rzero.cli` with `code`. After Ctrl-C (130) it exits by itself, at-exit handlers
    run first: CPython 3.11 marks a KeyboardInterrupt that lands in exec'd code (a dataclass being
    built while a module imports, say) as unhandled even once it is caught, and a module run with -m
    then dies by SIGINT whatever code it returns (exit -2, seen in CI), hiding the 130 and the clean stop."""
    if code == 130:
        import atexit
        import os

        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


if __name__ == "__main__":
    exit_with(main())
