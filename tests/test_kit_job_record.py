"""JobRecord and apply_report: how a worker's reports become a job's progress, metrics and history."""

from __future__ import annotations

from datetime import timedelta

import pytest

from service.kit.job_record import HISTORY_LIMIT, JobRecord, apply_report, utc_now


def record() -> JobRecord:
    return JobRecord(id="a" * 32, kind="train", model="m")


def test_progress_epoch_and_step_are_top_level_and_the_rest_are_the_latest_metrics():
    rec = record()
    apply_report(rec, {"progress": 0.25, "epoch": 1, "step": 10, "loss": 2.0, "lr": 0.1})
    assert (rec.progress, rec.epoch, rec.step) == (0.25, 1, 10)
    assert rec.metrics == {"epoch": 1, "step": 10, "loss": 2.0, "lr": 0.1}  # progress is not a metric
    apply_report(rec, {"step": 20, "loss": 1.5})
    assert (rec.progress, rec.epoch, rec.step) == (0.25, 1, 20)  # what a report leaves out stays
    assert rec.metrics == {"epoch": 1, "step": 20, "loss": 1.5, "lr": 0.1}
    assert rec.history == []  # no report asked for history


@pytest.mark.parametrize(("reported", "kept"), [(1.7, 1.0), (-0.2, 0.0), (0.5, 0.5), (None, 0.3)])
def test_progress_is_clamped_to_0_1_and_a_null_progress_is_ignored(reported, kept):
    rec = record()
    apply_report(rec, {"progress": 0.3})
    apply_report(rec, {"progress": reported})
    assert rec.progress == kept


def test_history_true_appends_the_report_without_its_history_flag_and_leaves_the_callers_dict_alone():
    rec = record()
    fields = {"epoch": 1, "loss": 0.5, "history": True}
    apply_report(rec, fields)
    apply_report(rec, {"epoch": 2, "loss": 0.25, "history": True})
    apply_report(rec, {"step": 7, "history": False})
    assert rec.history == [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}]
    assert "history" not in rec.metrics
    assert fields == {"epoch": 1, "loss": 0.5, "history": True}


def test_history_stops_growing_at_its_limit_while_metrics_stay_current():
    rec = record()
    rec.history = [{"step": i} for i in range(HISTORY_LIMIT - 1)]
    apply_report(rec, {"step": HISTORY_LIMIT, "history": True})
    apply_report(rec, {"step": HISTORY_LIMIT + 1, "history": True})
    assert len(rec.history) == HISTORY_LIMIT and rec.history[-1] == {"step": HISTORY_LIMIT}
    assert rec.step == HISTORY_LIMIT + 1 and rec.metrics["step"] == HISTORY_LIMIT + 1


def test_duration_is_none_before_the_start_then_runs_until_the_finish():
    rec = record()
    assert rec.duration_s is None and rec.status == "queued" and rec.created.tzinfo is not None
    rec.started = utc_now() - timedelta(seconds=30)
    assert 30 <= rec.duration_s < 40  # still running: measured against now
    rec.finished = rec.started + timedelta(seconds=12)
    assert rec.duration_s == 12


def test_the_target_is_kept_on_the_record_but_never_shown():
    rec = JobRecord(id="a" * 32, kind="train", target="tests.jobfuncs:count")
    assert rec.target == "tests.jobfuncs:count" and "target" not in rec.model_dump()
