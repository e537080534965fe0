"""Every log line is one JSON object: warnings (matplotlib's included) go through logging too."""

from __future__ import annotations

import json
import logging
import warnings

import pytest

from service.kit.logging import configure_logging


@pytest.fixture
def json_logs(capsys):
    """configure_logging as the services do (the handler binds the test's stderr, so it is called
    from the test, not here); the warnings filters and root handlers are restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level

    def start():
        configure_logging("info", json_lines=True)
        capsys.readouterr()
        return lambda: [line for line in capsys.readouterr().err.splitlines() if line]

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        yield start
    logging.captureWarnings(False)
    root.handlers[:], root.level = handlers, level


def test_a_warning_is_one_json_line(json_logs):
    json_logs = json_logs()
    warnings.warn("first line\nsecond line", UserWarning, stacklevel=1)
    lines = json_logs()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["logger"] == "py.warnings" and record["level"] == "warning"
    assert record["msg"] == "UserWarning: first line\nsecond line"
    assert record["warning_category"] == "UserWarning"
    assert record["warning_file"].endswith("test_kit_logging.py") and record["warning_line"] > 0


def test_matplotlib_warnings_are_json(json_logs):
    json_logs = json_logs()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    try:
        ax.legend()  # no labelled artists: matplotlib warns (UserWarning)
    finally:
        plt.close(fig)
    records = [json.loads(line) for line in json_logs()]  # every line parses
    warned = [r for r in records if r["logger"] == "py.warnings"]
    assert warned and "legend" in warned[0]["msg"]


def test_an_explicit_file_is_still_honoured(json_logs, tmp_path):
    json_logs = json_logs()
    with open(tmp_path / "w.txt", "w") as f:
        warnings.showwarning("to a file", UserWarning, "x.py", 3, file=f)
    assert "to a file" in (tmp_path / "w.txt").read_text() and json_logs() == []


def test_a_lone_surrogate_in_a_log_line_stays_valid_utf8_json(json_logs):
    json_logs = json_logs()
    logging.getLogger("demo").info("unknown word %r", "x\ud800", extra={"word": "x\ud800"})
    (line,) = json_logs()
    line.encode("utf-8")
    record = json.loads(line)
    assert record["word"] == "x\ud800" and "\\ud800" in line
