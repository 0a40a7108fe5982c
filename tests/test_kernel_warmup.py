"""`framework compile-kernels` (framework/runs/kernel_warmup.py): small models of every kind run in both
dtypes, a failing workload is named and the others still run, and the default dtype is left as it was."""
import pytest

import framework as fw
from framework import cli
from framework.runs import kernel_warmup


def test_every_workload_runs_in_both_dtypes_and_floatx_is_restored():
    seen = []
    failed = kernel_warmup.warm_kernels(report=lambda dtype, name, seconds, error: seen.append((dtype, name, error)))
    assert failed == 0
    names = [name for name, _ in kernel_warmup.WORKLOADS]
    assert seen == [(dtype, name, None) for dtype in ("float32", "float64") for name in names]
    assert fw.backend.floatx() == "float32"


def test_a_failing_workload_is_named_and_the_rest_still_run(monkeypatch, capsys):
    def broken(fw_, layers, rng, dtype):
        raise ValueError("no such thing\nsecond line")
    monkeypatch.setattr(kernel_warmup, "WORKLOADS", (("broken", broken),) + kernel_warmup.WORKLOADS[:1])
    assert cli.main(["compile-kernels", "--dtype", "float64", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert out == "float64 broken: failed: ValueError: no such thing\n"  # quiet: the failure alone, one line
    assert fw.backend.floatx() == "float32"


def test_no_work_starts_after_the_deadline(capsys):
    assert cli.main(["compile-kernels", "--seconds", "0"]) == 0
    assert capsys.readouterr().out.startswith("kernels compiled and cached in")


@pytest.mark.parametrize("argv", [["compile-kernels", "--dtype", "float16"]])
def test_an_unknown_dtype_is_refused_with_the_choices(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    assert "float32" in capsys.readouterr().err
