"""Command line: `rzero run | stage | worker | report | config | data fetch | eval | sft | pretrain-base`.

The commands of one model outside the loop (eval, sft, pretrain-base) are in `rzero.model_commands`.
"""

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
    existing_folder,
    integer,
    one_line_errors,
    output_folder,
    positive_number,
)
from rzero.config.load import DEFAULT_CONFIG
from rzero.core.records import STAGES
from rzero.model_commands import add_model_commands, pretrain_command


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
    from rzero.config.load import load_config
    from rzero.config.schema import ConfigError
    from rzero.run.launch import StageFailed
    from rzero.run.loop import run

    out = Path(args.out) if args.out else Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    received: list[str] = []  # the stop signals that arrived during the run
    try:
        cfg = load_config(args.config or DEFAULT_CONFIG, args.overrides)
        if args.dry_run:
            from rzero.plan.dry_run import describe
            from rzero.plan.preflight import dry_run_report
            from rzero.run.inputs import base_model

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
    except Exception as error:
        resume = f"finished stages are kept: rzero run --out {out} --resume"
        if not received and isinstance(error, StageFailed):  # a stage process failed: its log says why
            print(f"rzero run: {error}; {resume}", file=sys.stderr)
            return 1
        if not received:  # a real failure: its traceback
            raise
        print(f"rzero run: stopped by {received[0]}; {resume}", file=sys.stderr)
        return 130
    except KeyboardInterrupt as stop:
        why = stop.args[0] if stop.args else "interrupted"
        print(f"rzero run: {why}; finished stages are kept: rzero run --out {out} --resume", file=sys.stderr)
        return 130
    from rzero.observe.report import build_report
    from rzero.observe.tables import print_results

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
    from rzero.config.load import load_config
    from rzero.config.schema import ConfigError
    from rzero.core.records import PhaseFailed
    from rzero.core.rundir import RunDir
    from rzero.engines.generation import set_threads
    from rzero.plan.preflight import check_output
    from rzero.run.inputs import build_domain
    from rzero.run.launch import STAGE_FAILED
    from rzero.run.pipeline import run_stage

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
    from rzero.config.schema import ConfigError
    from rzero.plan.preflight import check_output
    from rzero.run.worker import WorkerError, follow

    try:  # it writes its heartbeat and launch logs there; node 0 may not have made the folder yet
        check_output(args.run, "--run", create=False)
    except ConfigError as error:
        print(f"rzero worker: {error}", file=sys.stderr)
        return 2
    try:
        joined = follow(args.run, args.machine_rank, args.poll_seconds, args.wait_seconds)
    except (WorkerError, ConfigError) as error:
        print(f"rzero worker: {error}", file=sys.stderr)
        return 1
    print(f"rzero worker: the run in {args.run} has ended; joined {joined} GRPO phases")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from rzero.observe.report import build_report
    from rzero.plan.preflight import check_output

    out = Path(args.out) if args.out else Path(args.runs[0]) / "report"
    try:
        check_output(out, "--out", create=False)
        page = build_report([Path(r) for r in args.runs], out)
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f"rzero report: {error}", file=sys.stderr)
        return 2
    print(f"report: {page}")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    """The resolved configuration as YAML (the file, then the overrides, checked), or its JSON Schema."""
    from rzero.config.load import dump_yaml, json_schema, load_config
    from rzero.config.schema import ConfigError

    if args.schema:
        print(json.dumps(json_schema(), indent=2))
        return 0
    try:
        print(dump_yaml(load_config(args.config or DEFAULT_CONFIG, args.overrides)), end="")
    except ConfigError as error:
        print(f"rzero config: {error}", file=sys.stderr)
        return 2
    return 0


def _cmd_data_fetch(args: argparse.Namespace) -> int:
    """The paper's evaluation sets from the Hub into `--out` (default: eval.data_dir's default), one
    line each; exit 1 when a set failed (the others are written), 2 when none could start."""
    from rzero.config.schema import EvalConfig
    from rzero.core.evalfetch import FetchError, check_fetch, fetch_line, fetch_set

    out = args.out or EvalConfig().data_dir
    try:
        names = check_fetch(args.names)
    except FetchError as error:
        print(f"rzero data fetch: {error}", file=sys.stderr)
        return 2
    print(f"rzero data fetch: {len(names)} evaluation sets -> {Path(out).expanduser()}", flush=True)
    print(f"{'benchmark':<14} {'status':<8} {'rows':>6} {'no gold':>8}  source", flush=True)
    results = []
    for name in names:
        results.append(fetch_set(name, out, force=args.force))
        print(fetch_line(results[-1]), flush=True)
    failed = [r.name for r in results if r.status == "failed"]
    if failed:
        print(f"rzero data fetch: {', '.join(failed)} failed; the other sets are written", file=sys.stderr)
        return 1
    if Path(out).expanduser() != Path(EvalConfig().data_dir).expanduser():
        print(f"run with eval.data_dir={out}")
    return 0


def _add_data_command(sub) -> None:
    """`rzero data fetch`: the evaluation sets as files, for nodes without network."""
    data = sub.add_parser("data", help="evaluation data: `rzero data fetch` downloads the paper's benchmarks")
    commands = data.add_subparsers(dest="data_command", required=True)
    fetch = commands.add_parser(
        "fetch",
        help="download the paper's evaluation sets from the Hugging Face Hub into eval.data_dir's layout",
        description="Download the paper's evaluation sets from the Hugging Face Hub into DIR/<name>/test.jsonl "
        "(with DIR/<name>/source.json: Hub id, configuration, split, commit, rows) on a machine with network "
        "(a login node); then run offline (HF_HUB_OFFLINE=1) with eval.data_dir=DIR.",
    )
    fetch.add_argument(
        "--out", metavar="DIR", help="folder to write (default: eval.data_dir's default, ~/.cache/rzero/benchmarks)"
    )
    fetch.add_argument("--force", action="store_true", help="download again the sets whose file exists")
    fetch.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to fetch (default: all ten of the paper)")
    fetch.set_defaults(func=_cmd_data_fetch)


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
    wk.add_argument(
        "--wait-seconds", type=positive_number, default=600.0, help="how long to wait for node 0's run to start"
    )
    wk.set_defaults(func=_cmd_worker)

    rp = sub.add_parser("report", help="write RUN/report/report.html (plots embedded) and its PNGs")
    rp.add_argument("runs", nargs="+", type=existing_folder, help="run directories; the first is described")
    rp.add_argument("--out", type=output_folder, help="output folder (default: FIRST_RUN/report)")
    rp.set_defaults(func=_cmd_report)

    cf = sub.add_parser(
        "config", help="print the resolved configuration (file + overrides, checked) or its JSON Schema"
    )
    cf.add_argument("--config", type=config_file, help="YAML config file or a shipped one's name (default: default)")
    cf.add_argument("--schema", action="store_true", help="print the JSON Schema of a config file (for editors)")
    cf.add_argument("overrides", nargs="*", help="section.field=value overrides")
    cf.set_defaults(func=_cmd_config)

    _add_data_command(sub)
    add_model_commands(sub)
    one_line_errors(parser)
    return parser


def _quiet_libraries() -> None:
    """Keep the terminal for rzero's own lines and bars: no per-load progress bars or advisory
    warnings from transformers (errors still show)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def parse_command_line(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """The parsed command line, with a command's trailing list anywhere after the command: argparse takes
    a positional list (`overrides` of run and config, `names` of data fetch) only as one run, so in
    `rzero run a=1 --dry-run b=2` it leaves `b=2` over. Those leftovers join the list, in order; anything
    else is an error as before."""
    args, extra = parser.parse_known_args(argv)
    listed = next((name for name in ("overrides", "names") if isinstance(getattr(args, name, None), list)), None)
    if extra and listed and not any(item.startswith("-") for item in extra):
        setattr(args, listed, [*getattr(args, listed), *extra])
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_command_line(build_parser(), argv)
    except SystemExit as stop:  # --help (0) or a bad argument (2, one line already printed)
        return int(stop.code or 0)
    if args.func not in (pretrain_command, _cmd_data_fetch):  # neither loads transformers
        _quiet_libraries()
    try:
        return args.func(args)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM outside a command's own handling
        resume = f"; finished stages are kept: rzero run --out {args.out} --resume" if args.command == "run" else ""
        print(f"rzero {args.command}: interrupted{resume}", file=sys.stderr)
        return 130


def exit_with(code: int) -> None:
    """End `python -m rzero.cli` with `code`. After Ctrl-C (130), and in every rank of a multi-process
    launch (WORLD_SIZE > 1), it exits by itself once the at-exit handlers have run, skipping the
    interpreter's teardown of native threads:
    - CPython 3.11 marks a KeyboardInterrupt that lands in exec'd code (a dataclass being built while a
      module imports, say) as unhandled even once it is caught, and a module run with -m then dies by
      SIGINT whatever code it returns (exit -2, seen in CI), hiding the 130 and the clean stop;
    - a rank whose stage had finished and written DONE was seen to abort in that teardown ("terminate
      called without an active exception", exit -6: a native thread of torch's distributed or
      DeepSpeed's stack destroyed while joinable), under DDP and ZeRO-3 alike, failing the launch."""
    import os

    if code == 130 or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import atexit

        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


if __name__ == "__main__":
    exit_with(main())
