"""ServiceRuntime on a real data directory: the rules around job submission, uploads, models and
versions; readiness around the default model's training; start-up clean-up by the runner only; and a
job's model served by the time the job reads ``succeeded``.

Most tests leave the job runner unstarted, so submitted jobs stay ``queued`` (no worker process);
the rules are the same either way.
"""

from __future__ import annotations

import time

import pytest

from service.kit.errors import ConflictError, NotFoundError
from service.kit.runtime import ServiceRuntime
from service.kit.settings import ServiceSettings
from service.kit.storage import TMP_PREFIX
from tests.helpers import wait_for_job


class TextRuntime(ServiceRuntime[str]):
    """A service whose model version is the text of its ``model.txt`` and whose uploads are texts."""

    uploads_name = "texts"
    upload_kind = "text"
    job_target = "tests.jobfuncs:count"

    def load_model(self, version):
        text = (version.path / "model.txt").read_text()
        if text == "broken":
            raise ValueError(f"cannot load {version.name} v{version.version}")
        return text

    def default_job_spec(self):
        return {"n": 1}

    def uploads_of(self, spec):
        return set(spec.get("texts", []))


@pytest.fixture
def make_runtime(tmp_path):
    made: list[TextRuntime] = []

    def make(**overrides) -> TextRuntime:
        settings = ServiceSettings(data_dir=tmp_path, **{"train_default": False, **overrides})
        made.append(TextRuntime(settings))
        return made[-1]

    yield make
    for runtime in reversed(made):
        runtime.stop()


@pytest.fixture
def runtime(make_runtime):
    return make_runtime()


def write_version(runtime: ServiceRuntime, name: str, text: str) -> None:
    with runtime.store.new_version(name, {}) as d:
        (d / "model.txt").write_text(text)


def add_text(runtime: ServiceRuntime, text_id: str) -> None:
    tmp = runtime.uploads.incoming()
    tmp.write_text("some words\n")
    runtime.uploads.commit(text_id, tmp, "data.txt", {"format": "text"})


def test_submit_job_checks_the_name_before_building_the_spec_and_allows_one_job_per_model(runtime):
    built = []

    def spec():
        built.append(1)
        return {"n": len(built)}

    with pytest.raises(NotFoundError) as err:  # overwrite=None: continue a model that must exist
        runtime.submit_job("continue", "m", spec)
    assert err.value.code == "model-not-found" and built == []
    write_version(runtime, "m", "one")
    with pytest.raises(ConflictError) as err:
        runtime.submit_job("train", "m", spec, overwrite=False)
    assert err.value.code == "model-exists" and built == []
    job = runtime.submit_job("train", "m", spec, overwrite=True)
    assert (job.kind, job.model, job.status, job.spec, job.target) == (
        "train", "m", "queued", {"n": 1}, "tests.jobfuncs:count"
    )  # fmt: skip
    with pytest.raises(ConflictError) as err:
        runtime.submit_job("continue", "m", {"n": 2}, target="tests.jobfuncs:fail")
    assert err.value.code == "job-active" and err.value.extensions["job_id"] == job.id
    new = runtime.submit_job("train", "fresh", {"n": 3}, overwrite=False, target="tests.jobfuncs:fail")
    assert new.target == "tests.jobfuncs:fail" and runtime.jobs.get(new.id).status == "queued"


def test_an_upload_read_by_an_active_job_cannot_be_deleted(runtime):
    add_text(runtime, "t1")
    add_text(runtime, "t2")
    job = runtime.submit_job("train", "m", {"n": 1, "texts": ["t1"]}, overwrite=False)
    with pytest.raises(ConflictError) as err:
        runtime.delete_upload("t1")
    assert err.value.code == "text-in-use"
    runtime.delete_upload("t2")  # not read by any job
    with pytest.raises(NotFoundError) as err:
        runtime.delete_upload("t2")
    assert err.value.code == "text-not-found"
    runtime.jobs.cancel(job.id)
    runtime.delete_upload("t1")  # the job ended
    assert runtime.uploads.list() == []


def test_delete_model_waits_for_its_job_and_forgets_it_in_memory(runtime):
    write_version(runtime, "m", "one")
    assert runtime.registry.get("m").model == "one"
    job = runtime.submit_job("train", "m", {"n": 1}, overwrite=True)
    with pytest.raises(ConflictError) as err:
        runtime.delete_model("m")
    assert err.value.code == "job-active"
    runtime.check_no_active_job("other")  # no job for another model: no error
    runtime.jobs.cancel(job.id)
    runtime.delete_model("m")
    assert not runtime.store.exists("m") and not runtime.registry.is_loaded("m")
    with pytest.raises(NotFoundError) as err:
        runtime.delete_model("m")
    assert err.value.code == "model-not-found"


def test_set_current_never_serves_a_version_that_cannot_be_loaded_and_the_current_one_stays(runtime):
    for text in ("one", "broken", "three"):
        write_version(runtime, "m", text)
    assert runtime.registry.get("m").model == "three"
    with pytest.raises(ValueError, match="cannot load m v2"):
        runtime.set_current("m", 2)
    assert runtime.store.current("m").version == 3 and runtime.registry.get("m").model == "three"
    loaded = runtime.set_current("m", 1)
    assert (loaded.version, loaded.model) == (1, "one") and runtime.store.current("m").version == 1
    assert runtime.registry.get("m").model == "one"
    with pytest.raises(NotFoundError) as err:
        runtime.set_current("m", 9)
    assert err.value.code == "version-not-found" and runtime.store.current("m").version == 1
    current, versions = runtime.versions("m")
    assert current == 1 and [v.version for v in versions] == [1, 2, 3]
    with pytest.raises(NotFoundError):
        runtime.versions("nope")


def test_versions_cannot_change_while_a_job_for_the_model_is_active(runtime):
    for text in ("one", "two"):
        write_version(runtime, "m", text)
    job = runtime.submit_job("train", "m", {"n": 1}, overwrite=True)
    for change in (lambda: runtime.set_current("m", 1), lambda: runtime.delete_version("m", 1)):
        with pytest.raises(ConflictError) as err:
            change()
        assert err.value.code == "job-active"
    assert runtime.versions("m")[0] == 2 and runtime.store.versions("m") == [1, 2]
    runtime.jobs.cancel(job.id)
    with pytest.raises(ConflictError) as err:
        runtime.delete_version("m", 2)
    assert err.value.code == "version-current"
    assert runtime.registry.get("m", 1).model == "one"  # held in memory as a pinned version
    runtime.delete_version("m", 1)
    assert runtime.store.versions("m") == [2] and not runtime.registry.is_loaded("m", 1)


def test_readiness_waits_for_the_default_models_first_training_then_stays_ready(make_runtime):
    first = make_runtime(train_default=True)
    first.load_models()
    ready, details = first.readiness()
    assert not ready and details["startup_loading"] == "done" and not details["default_model_loaded"]
    assert details["default_job"]["id"] == first.default_job_id
    assert details["default_job"]["status"] == "queued"
    beside = make_runtime(train_default=True)  # another process of the data directory, started meanwhile
    beside.load_models()
    assert beside.default_job_id == first.default_job_id  # waits for the same job: no second one
    assert len(first.jobs.list()) == 1
    first.jobs.cancel(first.default_job_id)  # ended, whatever its outcome
    ready, details = first.readiness()
    assert ready and details["default_job"]["status"] == "cancelled"

    write_version(first, "default", "the default model")  # a later start finds it on disk
    later = make_runtime(train_default=True)
    assert not later.readiness()[0]  # start-up loading not done yet
    later.load_models()
    ready, details = later.readiness()
    assert ready and later.default_job_id is None and "default_job" not in details
    assert details["models_loaded"] == {"default": 1} and details["default_model_loaded"]
    assert len(later.jobs.list()) == 1


def test_leftovers_are_cleaned_by_the_process_that_becomes_the_runner_at_start_only(make_runtime):
    def leave_leftovers(runtime):
        runtime.models_dir.mkdir(parents=True, exist_ok=True)
        runtime.tmp_dir.mkdir(parents=True, exist_ok=True)
        half_version = runtime.models_dir / "m" / f"{TMP_PREFIX}v3"
        half_version.mkdir(parents=True)
        half_upload = runtime.uploads.incoming()
        half_upload.write_bytes(b"half an upload")
        scratch = runtime.tmp_dir / f"{TMP_PREFIX}scratch"
        scratch.write_bytes(b"x")
        return [half_version, half_upload, scratch]

    runner = make_runtime()
    left = leave_leftovers(runner)
    runner.start(background=False)
    assert runner.jobs.is_runner
    assert [p for p in left if p.exists()] == []

    left = leave_leftovers(runner)  # being written by the runner now
    beside = make_runtime()
    beside.start(background=False)
    assert not beside.jobs.is_runner
    assert [p for p in left if p.exists()] == left  # another process's writes are left alone
    runner.stop()
    deadline = time.monotonic() + 20
    while not beside.jobs.is_runner:  # the stand-by takes the role over…
        assert time.monotonic() < deadline, "no take-over"
        time.sleep(0.05)
    assert [p for p in left if p.exists()] == left  # …without cleaning (only a start cleans)


def test_a_jobs_model_is_served_by_the_time_the_job_reads_succeeded(runtime):
    runtime.start(background=False)
    spec = {"models_dir": str(runtime.models_dir), "name": "m", "text": "written by the job"}
    job = runtime.submit_job("train", "m", spec, overwrite=False, target="tests.jobfuncs:write_model")
    done = wait_for_job(runtime.jobs, job.id, 60)
    assert done.status == "succeeded", done.error
    assert runtime.registry.is_loaded("m")  # loaded by the job's hook, not by this lookup
    assert runtime.registry.loaded() == {"m": 1}
    assert runtime.registry.get("m").model == "written by the job"
