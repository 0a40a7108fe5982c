"""The sequence examples run end to end in a quick mode (few samples, one epoch) and report an accuracy."""
import re
import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("script,argv,pattern", [
    ("addition_seq2seq.py", ["--epochs", "1", "--samples", "300", "--units", "32", "--verbose", "0"],
     r"Validation accuracy: (\d\.\d+) per character"),
    ("text_classifier_bilstm.py", ["--epochs", "1", "--samples", "300", "--verbose", "0"],
     r"test accuracy: (\d\.\d+)"),
])
def test_example_runs_and_reports_accuracy(script, argv, pattern, capsys):
    main = runpy.run_path(str(EXAMPLES / script), run_name="example")["main"]
    accuracy = main(argv)
    printed = capsys.readouterr().out
    match = re.search(pattern, printed)
    assert match, printed
    assert 0.0 <= float(match.group(1)) <= 1.0 and abs(float(match.group(1)) - accuracy) < 1e-3
