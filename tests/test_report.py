"""`rzero report`: the page is self-contained, every plot loads in headless Chromium, nothing is blank.

The run directory is synthetic (written here, no models): the report only reads files. The browser
test skips when Chromium and ChromeDriver are absent (`make test` installs them where it can).
"""

import json
import random
import shutil

import pytest

from rzero.cli import main
from rzero.core.rundir import RunDir, atomic_write_json, write_jsonl
from rzero.observe.report import build_report

PLOTS = ("accuracy", "pseudo_labels", "p_hat", "difficulty", "diversity", "challenger_rewards", "wall_time")


def fake_run(root, iterations=3, seed=0, hostile=False):
    """A run directory with the files a real run writes, figures drawn at random."""
    rng = random.Random(seed)
    run = RunDir(root)
    config = {"domain": "arithmetic", "iterations": iterations, "seed": seed, "model": {"path": "embedded"}}
    config["curriculum"] = {"band_delta": 0.25}
    entries = [{"iteration": 0, "evaluate": {"problems": 640, "greedy_accuracy": 0.6, "seconds": 10}}]
    for k in range(1, iterations + 1):
        pool = []
        for i in range(60):
            votes = rng.randint(1, 10)
            question = f"{rng.randint(1, 9)}+{rng.randint(1, 9)}*{i}"
            if hostile and i == 0:  # lowest p_hat: always among the sampled rows
                question, votes = "<script>alert(1)</script>{\\boxed{", 0
            pool.append(
                {
                    "question": question,
                    "difficulty": rng.randint(2, 8),
                    "answers": [str(rng.randint(0, 3)) for _ in range(10)],
                    "pseudo_label": "1",
                    "p_hat": votes / 10,
                    "group_sizes": [votes],
                    "in_band": 3 <= votes <= 7,
                    "oracle_answer": "1",
                }
            )
        folder = run.stage(k, "curriculum")
        write_jsonl(folder / "pool.jsonl", pool)
        write_jsonl(folder / "curriculum.jsonl", [r for r in pool if r["in_band"]])
        log = [
            {"step": s, "reward": rng.random(), "challenger/uncertainty": rng.random(), "challenger/repetition": 0.1}
            for s in range(1, 6)
        ]
        write_jsonl(run.stage(k, "challenger") / "train_log.jsonl", log)
        entries.append(
            {
                "iteration": k,
                "challenger": {"trained": True, "reward": 0.3, "seconds": 20},
                "curriculum": {
                    "kept": 25,
                    "labelled": 60,
                    "pseudo_label_accuracy": 0.5,
                    "mean_difficulty": 5.0 + k / 10,
                    "mean_pairwise_bleu": 0.2,
                    "distinct_3gram_share": 0.6,
                    "distinct_fraction": 0.9,
                    "seconds": 50,
                },
                "solver": {"trained": True, "seconds": 30},
                "evaluate": {
                    "problems": 640,
                    "greedy_accuracy": 0.6 + k / 100,
                    "accuracy_by_difficulty": {"1": 1.0, "7": 0.1 * k},
                    "worked_share_by_difficulty": {"1": 1.0, "7": 0.3 * k},
                    "worked_accuracy_by_difficulty": {"1": 1.0, "7": None if k == 1 else 0.05 * k},
                    "accuracy_on_own_curriculum": 0.4,
                    "seconds": 9,
                },
                "alerts": [{"trigger": "accuracy_drop", "iteration": k, "message": "x"}] if k == 2 else [],
            }
        )
    atomic_write_json(run.summary_path, {"config": config, "iterations": entries})
    return root


def test_report_writes_every_plot_and_a_self_contained_page(tmp_path):
    page = build_report([fake_run(tmp_path / "a", hostile=True), fake_run(tmp_path / "b", seed=1)])
    assert page == tmp_path / "a" / "report" / "report.html"
    for name in PLOTS:
        assert (page.parent / f"{name}.png").stat().st_size > 5000
    text = page.read_text()
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "accuracy_drop" in text and ">b<" in text  # alerts shown, second run in the summary
    assert (page.parent / "habit_skill.png").stat().st_size > 5000 and text.count("data:image/png") == len(PLOTS) + 2
    assert (page.parent / "unlocked.png").stat().st_size > 5000  # levels unlocked per run, overlaid
    assert "<td>0.30<br><small>0.90 &middot; 0.15</small></td>" in text  # iteration 3, level 7
    assert "<small>0.30 &middot; -</small>" in text  # iteration 1: no worked answer at level 7


def test_report_without_habit_figures_says_so(tmp_path):
    run = fake_run(tmp_path / "a")
    summary = json.loads((run / "summary.json").read_text())
    for entry in summary["iterations"]:
        for key in ("worked_share_by_difficulty", "worked_accuracy_by_difficulty"):
            entry["evaluate"].pop(key, None)
    atomic_write_json(run / "summary.json", summary)
    text = build_report([run]).read_text()
    assert "carry no habit and skill figures" in text and text.count("data:image/png") == len(PLOTS)


def test_report_cli_errors_name_the_directory(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "runs: " + str(tmp_path / "missing") + " does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "empty/summary.json not found" in capsys.readouterr().err


def test_a_renamed_key_in_a_summary_is_an_error_not_a_dash(tmp_path, capsys):
    """Typed records: a key the reader does not know stops the report with the file and the key,
    instead of a `-` in a table or a plot with a missing line."""
    root = fake_run(tmp_path / "run", iterations=1)
    summary = json.loads((root / "summary.json").read_text())
    summary["iterations"][1]["curriculum"]["kept_questions"] = summary["iterations"][1]["curriculum"].pop("kept")
    (root / "summary.json").write_text(json.dumps(summary))
    assert main(["report", str(root)]) == 2
    err = capsys.readouterr().err
    assert "summary.json" in err and "unknown key 'kept_questions'" in err


def test_report_loads_in_headless_chromium(tmp_path):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("chromium and chromedriver are not installed (make browser installs them on Debian)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from PIL import Image

    page = build_report([fake_run(tmp_path / "run")])
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver), options=options)
    try:
        browser.get(page.as_uri())
        loaded = browser.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])"
        )
        shot = tmp_path / "screenshot.png"
        browser.save_screenshot(str(shot))
    finally:
        browser.quit()
    assert sorted(name for name, _ in loaded) == sorted((*PLOTS, "habit_skill", "unlocked"))
    assert all(ok for _, ok in loaded), loaded
    pixels = Image.open(shot).convert("L")
    low, high = pixels.getextrema()
    assert high - low > 100  # not a blank page
    histogram = pixels.histogram()
    assert max(histogram) < 0.97 * sum(histogram)  # more than one flat colour
    json.dumps(loaded)
