"""`rzero data fetch` against a fake Hugging Face Hub (tests/fake_hub_server.py, a local HTTP server):
the real `datasets.load_dataset` downloads tiny parquet and JSONL repositories, and the files it leaves
read as the Hub rows would. The command runs in a subprocess whose HF_ENDPOINT is the fake Hub and where
HF_HUB_OFFLINE is unset; everywhere else in the tests it stays set."""

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest

from fake_hub_server import FakeHub, jsonl_bytes, parquet_bytes
from rzero.cli import main
from rzero.config.load import load_config
from rzero.config.schema import EvalConfig
from rzero.core import evalsets
from rzero.core.evalsets import load_benchmark, missing_benchmark_file

GSM8K = [
    {"question": "Tom has 3 apples and buys 2. How many?", "answer": "3 + 2 = 5\n#### 5"},
    {"question": "A shop sells 400 pens a day. How many in 3 days?", "answer": "400 * 3 = 1200\n#### 1,200"},
]
GSM8K_SOCRATIC = [{"question": "Not the main configuration?", "answer": "No\n#### 0"}]
MATH500 = [
    {"problem": "What is $1+1$?", "solution": "$1+1=\\boxed{2}$.", "answer": "2", "subject": "Algebra", "level": 1},
    {"problem": "Simplify $\\frac{4}{6}$.", "solution": "$\\boxed{\\frac23}$", "answer": "\\frac{2}{3}", "level": 2},
]
AMC23 = [
    {"id": 0, "problem": "How many miles?", "answer": 27.0},
    {"id": 1, "problem": "No answer here", "answer": None},
]
MMLU_PRO = [
    {"question": "Which is a prime?", "options": ["4", "5", "6"], "answer": "B", "answer_index": 1, "category": "math"},
    {"question": "Which is even?", "options": ["3", "8"], "answer": "B", "answer_index": 1, "category": "math"},
]
MMLU_PRO_VALIDATION = [
    {"question": "Not the test split?", "options": ["a", "b"], "answer": "A", "answer_index": 0, "category": "x"}
]
GSM8K_CARD = """---
configs:
- config_name: main
  data_files:
  - split: test
    path: main/test-*
- config_name: socratic
  data_files:
  - split: test
    path: socratic/test-*
---
"""
SOURCES = {"gsm8k": GSM8K, "math500": MATH500, "amc23": AMC23, "mmlu_pro": MMLU_PRO}


@pytest.fixture
def hub():
    """Four of the paper's repositories as the Hub holds them (gsm8k with two configurations, MMLU-Pro
    with two splits), aime25 with a file that is not parquet, and no supergpqa repository at all."""
    server = FakeHub(
        {
            "openai/gsm8k": {
                "README.md": GSM8K_CARD.encode(),
                "main/test-00000-of-00001.parquet": parquet_bytes(GSM8K),
                "socratic/test-00000-of-00001.parquet": parquet_bytes(GSM8K_SOCRATIC),
            },
            "HuggingFaceH4/MATH-500": {"test.jsonl": jsonl_bytes(MATH500)},
            "math-ai/amc23": {"data/test-00000-of-00001.parquet": parquet_bytes(AMC23)},
            "TIGER-Lab/MMLU-Pro": {
                "data/test-00000-of-00001.parquet": parquet_bytes(MMLU_PRO),
                "data/validation-00000-of-00001.parquet": parquet_bytes(MMLU_PRO_VALIDATION),
            },
            "math-ai/aime25": {"data/test-00000-of-00001.parquet": b"these bytes are not a parquet file"},
        }
    )
    yield server
    server.close()


def fetch(hub, tmp_path, *args) -> subprocess.CompletedProcess:
    """`rzero data fetch ARGS` online, against the fake Hub, with HOME (so the default folder) and the
    Hugging Face cache under tmp_path."""
    offline = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME", "HF_DATASETS_CACHE")
    env = {key: value for key, value in os.environ.items() if key not in offline}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf"), HOME=str(tmp_path / "home"), HF_TOKEN="")
    env.update(HF_HUB_DISABLE_PROGRESS_BARS="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1")
    command = [sys.executable, "-m", "rzero.cli", "data", "fetch", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def direct(name, rows, monkeypatch):
    """What load_benchmark gives when it reads `rows` straight from the Hub (read_rows' online path)."""
    with monkeypatch.context() as patch:
        patch.setattr(evalsets, "read_rows", lambda name, data_dir: [dict(row) for row in rows])
        return load_benchmark(name, "/nowhere")


def line_of(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(f"{name} "))


def test_fetched_files_read_as_the_hub_rows_and_say_where_they_came_from(hub, tmp_path, monkeypatch):
    done = fetch(hub, tmp_path, *SOURCES)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "home" / ".cache" / "rzero" / "benchmarks"  # the default eval.data_dir, ~ expanded
    for name, rows in SOURCES.items():
        assert load_benchmark(name, out) == direct(name, rows, monkeypatch)
        assert "fetched" in line_of(done.stdout, name)
    assert load_benchmark("gsm8k", out)[0][1].answer == "1200"  # the main configuration, golds as the loader reads
    assert [p.question for p in load_benchmark("mmlu_pro", out)[0]][0].startswith("Which is a prime?")
    assert load_benchmark("amc23", out)[2] == [1]  # the row without an answer is reported, as from the Hub

    source = json.loads((out / "gsm8k" / "source.json").read_text())
    text = (out / "gsm8k" / "test.jsonl").read_bytes()
    assert source["hub_id"] == "openai/gsm8k" and source["config"] == "main" and source["split"] == "test"
    assert source["revision"] == hub.commit("openai/gsm8k") and source["rows"] == 2
    assert source["rows_without_gold"] == 0 and source["sha256"] == hashlib.sha256(text).hexdigest()
    assert abs(time.time() - time.mktime(time.strptime(source["fetched_at"], "%Y-%m-%dT%H:%M:%SZ"))) < 86400
    amc = json.loads((out / "amc23" / "source.json").read_text())
    assert amc["rows"] == 2 and amc["rows_without_gold"] == 1 and amc["config"] is None
    assert f"openai/gsm8k (main) test @{source['revision'][:12]}" in line_of(done.stdout, "gsm8k")

    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # fetch, then run offline with the defaults: it just works
    cfg = load_config(None, [f"eval.benchmarks={','.join(SOURCES)}"])
    assert cfg.eval.data_dir == EvalConfig().data_dir == "~/.cache/rzero/benchmarks"
    assert missing_benchmark_file(cfg.eval.benchmarks, cfg.eval.data_dir) is None


def test_existing_sets_are_kept_unless_forced(hub, tmp_path):
    out = tmp_path / "data"
    assert fetch(hub, tmp_path, "--out", str(out), "gsm8k").returncode == 0
    first = (out / "gsm8k" / "test.jsonl").read_text()
    changed = [{"question": "What is 2 + 2?", "answer": "2 + 2 = 4\n#### 4"}]
    hub.repos["openai/gsm8k"]["main/test-00000-of-00001.parquet"] = parquet_bytes(changed)
    hub.requests.clear()

    again = fetch(hub, tmp_path, "--out", str(out), "gsm8k")
    assert again.returncode == 0 and "kept" in line_of(again.stdout, "gsm8k")
    assert (out / "gsm8k" / "test.jsonl").read_text() == first and not hub.requests  # nothing asked of the Hub

    forced = fetch(hub, tmp_path, "--out", str(out), "--force", "gsm8k")
    assert forced.returncode == 0 and "fetched" in line_of(forced.stdout, "gsm8k")
    assert [p.question for p in load_benchmark("gsm8k", out)[0]] == ["What is 2 + 2?"]
    assert json.loads((out / "gsm8k" / "source.json").read_text())["revision"] == hub.commit("openai/gsm8k")
    assert f"eval.data_dir={out}" in forced.stdout


def test_a_set_that_fails_leaves_the_others_and_the_old_file(hub, tmp_path):
    out = tmp_path / "data"
    (out / "aime25").mkdir(parents=True)
    (out / "aime25" / "test.jsonl").write_text('{"problem": "kept by hand", "answer": "7"}\n')

    done = fetch(hub, tmp_path, "--out", str(out), "--force", "gsm8k", "aime25", "supergpqa", "math500")
    assert done.returncode == 1
    assert "aime25, supergpqa failed; the other sets are written" in done.stderr
    assert "failed" in line_of(done.stdout, "aime25") and "failed" in line_of(done.stdout, "supergpqa")
    assert len(load_benchmark("gsm8k", out)[0]) == 2 and len(load_benchmark("math500", out)[0]) == 2
    assert [p.question for p in load_benchmark("aime25", out)[0]] == ["kept by hand"]
    assert sorted(p.name for p in (out / "aime25").iterdir()) == ["test.jsonl"]  # no half-written file
    assert not (out / "supergpqa" / "test.jsonl").exists()


def test_unknown_names_and_an_offline_machine_are_refused_before_any_download(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["data", "fetch", "--out", str(tmp_path / "d"), "gsm8k", "gsm9k"]) == 2
    assert "unknown benchmark 'gsm9k' (known: gsm8k, math500, amc23, aime24, aime25" in capsys.readouterr().err
    assert main(["data", "fetch", "--out", str(tmp_path / "d"), "gsm8k"]) == 2
    error = capsys.readouterr().err
    assert "fetching needs the network and HF_HUB_OFFLINE is set" in error and "login node" in error
    assert not (tmp_path / "d").exists()


def test_offline_without_the_file_says_how_to_fetch_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = missing_benchmark_file("gsm8k,aime25,bbeh", tmp_path)
    assert missing == (
        f"{tmp_path}/gsm8k/test.jsonl does not exist and HF_HUB_OFFLINE is set: fetch it first: "
        f"rzero data fetch --out {tmp_path} gsm8k aime25 bbeh on a machine with network, then eval.data_dir={tmp_path}"
    )
    with pytest.raises(FileNotFoundError, match=f"fetch it first: rzero data fetch --out {tmp_path} bbeh"):
        load_benchmark("bbeh", tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "benchmarks" / "bbeh").mkdir(parents=True)
    (tmp_path / "benchmarks" / "bbeh" / "test.jsonl").write_text('{"input": "Say yes.", "target": "Yes"}\n')
    assert load_benchmark("bbeh", "~/benchmarks")[0][0].answer == "Yes"  # ~ is the user's home
    assert missing_benchmark_file("bbeh", "~/benchmarks") is None
