"""The labelled probe: loading (errors name the line) and pseudo-label accuracy on hand-made rows."""

import json
from pathlib import Path

import pytest

from rzero.core.domains.arithmetic import ArithmeticDomain
from rzero.core.records import CurriculumRow
from rzero.observe.probe import load_probe, probe_figures

GSM8K = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k" / "test.jsonl"


def test_load_probe_formats_and_errors(tmp_path):
    path = tmp_path / "p.jsonl"
    rows = [
        {"question": "1+2", "answer": "3"},
        {"problem": "2*3", "answer": "so #### 6"},
        {"question": "x", "answer": 7},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert load_probe(path, 10) == [("1+2", "3"), ("2*3", "6"), ("x", "7")]
    assert load_probe(path, 2) == [("1+2", "3"), ("2*3", "6")]
    path.write_text(json.dumps({"question": "1+2"}) + "\n")
    with pytest.raises(ValueError, match=r"p\.jsonl:1"):
        load_probe(path, 10)


@pytest.mark.skipif(not GSM8K.exists(), reason="shared data is optional")
def test_load_probe_reads_gsm8k():
    pairs = load_probe(GSM8K, 200)
    assert len(pairs) == 200 and all(a and "####" not in a for _, a in pairs)
    assert pairs[0][1] == "18"


def test_probe_figures_on_hand_made_rows():
    equivalent = ArithmeticDomain().equivalent

    def row(label, in_band):
        return CurriculumRow(
            question=f"q{label}",
            difficulty=None,
            answers=[label],
            pseudo_label=label,
            p_hat=0.5,
            group_sizes=[1],
            in_band=in_band,
        )

    rows = [row("3", True), row("4", True), row("5", False), row(None, False)]
    figures = probe_figures(rows, ["3", "5", "5", "1"], equivalent)
    assert figures == {
        "probe_questions": 4,
        "probe_labelled": 3,
        "probe_in_band": 2,
        "probe_pseudo_label_accuracy": 0.5,
        "probe_pseudo_label_accuracy_all": pytest.approx(2 / 3),
    }
    assert rows[1].probe_answer == "5" and rows[1].model_dump()["probe_answer"] == "5"
    assert probe_figures([], [], equivalent)["probe_pseudo_label_accuracy"] is None
