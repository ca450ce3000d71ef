"""Luigi's worker protocol faces: nbpipe.worker.Worker, nbpipe.scheduler.Scheduler, the worker's summary and
Luigi's command with Luigi's exit codes."""

from __future__ import annotations

import warnings

import pytest

import nbpipe
from nbpipe import execution_summary
from nbpipe.cmdline import luigi_run
from nbpipe.configuration import get_config
from nbpipe.parameter import DuplicateParameterException, UnconsumedParameterWarning
from nbpipe.scheduler import DISABLED, DONE, FAILED, PENDING, RUNNING, Scheduler
from nbpipe.worker import Worker

RAN: list[str] = []


class FaceFlag(nbpipe.Task):
    """Complete once it has run in this process (no files)."""

    name = nbpipe.Parameter()
    done: set[str] = set()

    def complete(self):
        return self.name in FaceFlag.done

    def run(self):
        RAN.append(self.name)
        FaceFlag.done.add(self.name)


class FacePair(nbpipe.Task):
    def requires(self):
        return [FaceFlag("a"), FaceFlag("b")]

    def complete(self):
        return "pair" in FaceFlag.done

    def run(self):
        RAN.append("pair")
        FaceFlag.done.add("pair")


class FaceFailing(nbpipe.Task):
    def complete(self):
        return False

    def run(self):
        raise ValueError("boom")


class FaceBatched(nbpipe.Task):
    value = nbpipe.IntParameter(batch_method=max)
    highest_run: list[int] = []

    def complete(self):
        return bool(FaceBatched.highest_run) and self.value <= max(FaceBatched.highest_run)

    def run(self):
        FaceBatched.highest_run.append(self.value)


@pytest.fixture(autouse=True)
def _fresh():
    RAN.clear()
    FaceFlag.done.clear()
    FaceBatched.highest_run.clear()
    yield


def test_add_reports_each_task_and_run_builds_them_in_dependency_order():
    scheduler = Scheduler()
    with Worker(scheduler=scheduler, worker_id="w") as worker:
        assert worker.add(FacePair()) is True
        tasks = scheduler.task_list()
        assert {t["status"] for t in tasks.values()} == {PENDING}
        assert sorted(tasks[FacePair().task_id]["deps"]) == sorted([FaceFlag("a").task_id, FaceFlag("b").task_id])
        assert worker.run() is True
    assert RAN[-1] == "pair" and sorted(RAN[:2]) == ["a", "b"]
    assert set(scheduler.task_list(status=DONE)) == {FacePair().task_id, FaceFlag("a").task_id, FaceFlag("b").task_id}
    sets = execution_summary._summary_dict(worker)
    assert sets["completed"] == {FacePair(), FaceFlag("a"), FaceFlag("b")}
    text = execution_summary.summary(worker)
    assert "Scheduled 3 tasks of which:\n* 3 ran successfully:" in text
    assert text.startswith("\n===== Luigi Execution Summary =====\n")


def test_get_work_hands_out_the_highest_priority_ready_task_and_marks_it_running():
    scheduler = Scheduler()
    scheduler.add_task(worker="w", task_id="low", status=PENDING, priority=1)
    scheduler.add_task(worker="w", task_id="high", status=PENDING, priority=5)
    scheduler.add_task(worker="w", task_id="dep", status=PENDING, priority=0)
    scheduler.add_task(worker="w", task_id="blocked", status=PENDING, priority=9, deps=["dep"])
    # "dep" is as urgent as "blocked", which waits on it; "blocked" itself is not ready.
    assert scheduler.task_list()["dep"]["priority"] == 9
    assert [scheduler.get_work(worker="w")["task_id"] for _ in range(3)] == ["dep", "high", "low"]
    assert scheduler.task_list()["high"]["status"] == RUNNING
    other = scheduler.get_work(worker="other")  # not a stakeholder of any task
    assert other["task_id"] is None


def test_a_failed_task_is_retried_after_retry_delay_and_disabled_after_retry_count():
    scheduler = Scheduler(retry_delay=0, retry_count=2)
    scheduler.add_task(worker="w", task_id="t", status=PENDING)
    assert scheduler.get_work(worker="w")["task_id"] == "t"
    scheduler.add_task(worker="w", task_id="t", status=FAILED)
    scheduler.prune()  # retry_delay 0: PENDING again
    assert scheduler.task_list()["t"]["status"] == PENDING
    assert scheduler.get_work(worker="w")["task_id"] == "t"
    scheduler.add_task(worker="w", task_id="t", status=FAILED)
    assert scheduler.task_list()["t"]["status"] == DISABLED


def test_other_workers_running_tasks_show_in_the_summary():
    scheduler = Scheduler()
    scheduler.add_task(worker="other", task_id=FaceFlag("x").task_id, status=PENDING)
    assert scheduler.get_work(worker="other")["task_id"] == FaceFlag("x").task_id
    worker = Worker(scheduler=scheduler, worker_id="me")
    worker.add(FaceFlag("x"))
    assert worker.run() is True
    sets = execution_summary._summary_dict(worker)
    assert sets["run_by_other_worker"] == {FaceFlag("x")}
    assert "    - other ran 1 tasks" in execution_summary.summary(worker)
    assert RAN == []


def test_batchable_tasks_run_once_with_their_values_combined():
    scheduler = Scheduler()
    worker = Worker(scheduler=scheduler, worker_id="w")
    for i in range(4):
        worker.add(FaceBatched(i))
    assert worker.run() is True
    assert FaceBatched.highest_run == [3]
    assert set(scheduler.task_list(status=DONE)) == {FaceBatched(i).task_id for i in range(4)}


def test_failure_is_reported_and_summarised():
    scheduler = Scheduler()
    worker = Worker(scheduler=scheduler, worker_id="w")
    worker.add(FaceFailing())
    assert worker.run() is False
    assert list(scheduler.task_list(status=FAILED)) == [FaceFailing().task_id]
    assert "boom" in scheduler.fetch_error(FaceFailing().task_id)["error"]
    assert execution_summary._summary_dict(worker)["failed"] == {FaceFailing()}


def test_luigi_run_exits_with_luigis_codes():
    with pytest.raises(SystemExit) as failed:
        luigi_run(["FaceFailing", "--local-scheduler"])
    assert failed.value.code == 0  # Luigi's default for a failed task
    with pytest.raises(SystemExit) as configured:
        luigi_run(["FaceFailing", "--retcode-task-failed", "5", "--local-scheduler"])
    assert configured.value.code == 5
    with pytest.raises(SystemExit) as unmade:
        luigi_run(["FaceFlag", "--local-scheduler"])  # missing parameter: an unhandled exception
    assert unmade.value.code == 4


def test_a_value_given_positionally_and_by_name_raises_duplicate_parameter():
    with pytest.raises(DuplicateParameterException):
        FaceFlag("a", name="b")


def test_configuration_options_no_parameter_takes_are_warned_about_once():
    class FaceConfigured(nbpipe.Task):
        a = nbpipe.Parameter(default="x")

    config = get_config()
    config.set("FaceConfigured", "a", "1")
    config.set("FaceConfigured", "stray", "2")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnconsumedParameterWarning)
            FaceConfigured()
            FaceConfigured()
    finally:
        config.remove_section("FaceConfigured")
    messages = [str(w.message) for w in caught if issubclass(w.category, UnconsumedParameterWarning)]
    assert messages == [
        "The configuration contains the parameter 'stray' with value '2' that is not consumed by the task 'FaceConfigured'."
    ]


class FaceCompleteRaises(nbpipe.Task):
    def complete(self):
        raise RuntimeError("cannot tell")


def test_completeness_checked_in_a_process_pool_reports_the_same_statuses():
    scheduler = Scheduler()
    worker = Worker(scheduler=scheduler, worker_id="w")
    assert worker.add(FacePair(), multiprocess=True, processes=2) is True
    assert {t["status"] for t in scheduler.task_list().values()} == {PENDING}
    assert worker.add(FaceCompleteRaises(), multiprocess=True, processes=1) is False
    assert scheduler.task_list()[FaceCompleteRaises().task_id]["status"] == "UNKNOWN"
    assert execution_summary._summary_dict(worker)["scheduling_error"] == {FaceCompleteRaises()}


class FaceListens(nbpipe.Task):
    accepts_messages = True
    heard: list[str] = []

    def complete(self):
        return bool(FaceListens.heard)

    def run(self):
        while not self.scheduler_messages.empty():
            message = self.scheduler_messages.get()
            FaceListens.heard.append(message.content)
            message.respond("ok")


def test_messages_sent_before_a_task_starts_reach_it_and_its_answers_reach_the_scheduler():
    scheduler = Scheduler(send_messages=True)
    worker = Worker(scheduler=scheduler, worker_id="w")
    worker.add(FaceListens())
    sent = scheduler.send_scheduler_message("w", FaceListens().task_id, "hello")
    assert worker.run() is True
    assert FaceListens.heard == ["hello"]
    assert scheduler.get_scheduler_message_response(FaceListens().task_id, sent["message_id"]) == {"response": "ok"}
    assert Scheduler(send_messages=False).send_scheduler_message("w", "t", "x") == {"message_id": None}
