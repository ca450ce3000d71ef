"""Luigi's ``luigi.worker``: :class:`Worker`, which registers tasks with a scheduler and runs what it is given.

Luigi's protocol over nbpipe's executors.  :meth:`Worker.add` walks the
graph from a task: each task's ``complete()`` is checked and the task is
reported to the :class:`~nbpipe.scheduler.Scheduler` with ``add_task``
(DONE, PENDING with its dependencies, PENDING and not runnable for missing
external data, or UNKNOWN when ``complete()`` / ``requires()`` raised).
:meth:`Worker.run` then asks ``get_work`` for a task, runs it on an nbpipe
executor (inline for one worker process, nbpipe's worker processes for
more), reports the end with ``add_task`` and asks again, until the
scheduler has nothing for it.  Requirements a task yields from ``run()``
are added and the task is run again once they are done.

The worker keeps what :mod:`nbpipe.execution_summary` needs, as Luigi's
does: every status it reported (``_add_task_history``) and every
``get_work`` answer (``_get_work_response_history``).
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import socket
import time
from typing import Any

from nbpipe.engine import run_context as runtime
from nbpipe.engine.executor import DONE as OUTCOME_DONE
from nbpipe.engine.executor import FAILED as OUTCOME_FAILED
from nbpipe.engine.executor import SUSPENDED as OUTCOME_SUSPENDED
from nbpipe.engine.executor import Executor, Outcome
from nbpipe.event import Event
from nbpipe.exceptions import TaskException
from nbpipe.scheduler import DISABLED, DONE, FAILED, PENDING, RUNNING, SUSPENDED, UNKNOWN, Scheduler
from nbpipe.target import Target
from nbpipe.task import Task
from nbpipe.worker_support import (
    GetWorkResponse,
    MessageQueue,
    SchedulerMessage,
    _check_complete,
    _is_external,
    _retry_policy_dict,
    _username,
    worker,
)

__all__ = ["Worker", "TaskException", "worker"]

logger = logging.getLogger("nbpipe")


class Worker:
    """Luigi's worker: ``add`` tasks, then ``run`` them; usable as a context manager.

    ``add()`` returns False when some ``complete()`` or ``requires()``
    raised (those tasks are reported UNKNOWN); it raises
    :class:`TaskException` for a value that is not a task, and re-raises
    what a dependency check of another kind raised.  ``run()`` returns True
    when every task it ran succeeded.  Keywords other than the first four
    are options of :class:`worker` (``keep_alive``, ``wait_interval``,
    ``task_limit``, ``check_unfulfilled_deps``, ...).
    """

    def __init__(
        self,
        scheduler: Scheduler | None = None,
        worker_id: str | None = None,
        worker_processes: int = 1,
        assistant: bool = False,
        **kwargs: Any,
    ) -> None:
        self._scheduler = scheduler if scheduler is not None else Scheduler()
        self.worker_processes = int(worker_processes)
        self._config = worker(**kwargs)
        if self._config.wait_interval < 0.00001:
            raise AssertionError("[worker] wait_interval must be positive")
        if self._config.wait_jitter < 0.0:
            raise AssertionError("[worker] wait_jitter must be equal or greater than zero")
        self.host = socket.gethostname()
        self._worker_info = [
            ("salt", f"{random.randrange(0, 10**10):09d}"),
            ("workers", self.worker_processes),
            ("host", self.host),
            ("username", _username()),
            ("pid", os.getpid()),
        ]
        info = ", ".join(f"{k}={v}" for k, v in self._worker_info)
        self._id = worker_id or self._config.id or f"Worker({info})"
        self._assistant = assistant
        self._stop_requesting_work = False
        self._scheduled_tasks: dict[str, Task] = {}
        self._first_task: str | None = None
        self.add_succeeded = True
        self.run_succeeded = True
        self.unfulfilled_counts: dict[str, int] = {}
        self._running_tasks: dict[str, Task] = {}
        self._batch_running_tasks: dict[str, list[Task]] = {}
        self._batch_families_sent: set[str] = set()
        self._pending_messages: dict[str, list[SchedulerMessage]] = {}
        self._idle_since: float | None = None
        self._executor: Executor | None = None
        self._add_task_history: list[tuple[Task, str, Any]] = []
        self._get_work_response_history: list[dict[str, Any]] = []
        if not self._config.no_install_shutdown_handler:
            # SIGUSR1 asks the worker to finish what it runs and take no more work (Luigi's convention).
            try:
                signal.signal(signal.SIGUSR1, self.handle_interrupt)
                signal.siginterrupt(signal.SIGUSR1, False)
            except (AttributeError, ValueError):  # no SIGUSR1 here, or not the main thread
                pass

    def handle_interrupt(self, signum: int, _frame: Any) -> None:
        """On SIGUSR1: stop asking for work; finish the running tasks."""
        if signum == signal.SIGUSR1:
            self._start_phasing_out()

    def _start_phasing_out(self) -> None:
        self._config.keep_alive = False
        self._stop_requesting_work = True

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self.stop(kill=exc_type is not None)
        return False  # exceptions propagate

    def stop(self, kill: bool = False) -> None:
        """Release the executor's worker processes, if a run left any (``kill``: stop running tasks)."""
        if self._executor is not None:
            self._executor.shutdown(kill=kill)
            self._executor = None

    # -- reporting ---------------------------------------------------------------------------------------------------

    def _add_task(self, **kwargs: Any) -> None:
        """``add_task`` on the scheduler, remembered for the execution summary."""
        task = self._scheduled_tasks.get(kwargs["task_id"])
        if task is not None:
            self._add_task_history.append((task, kwargs["status"], kwargs["runnable"]))
            if kwargs.get("params"):
                kwargs["param_visibilities"] = task._get_param_visibilities()
        for member in self._batch_running_tasks.pop(kwargs["task_id"], ()):
            self._add_task_history.append((member, kwargs["status"], True))
        self._scheduler.add_task(**kwargs)
        logger.debug("Informed scheduler that task   %s   has status   %s", kwargs["task_id"], kwargs["status"])

    def _report(self, task: Task, status: str, deps: list[str] | None, runnable: Any, **extra: Any) -> None:
        self._add_task(
            worker=self._id,
            task_id=task.task_id,
            status=status,
            deps=deps,
            runnable=runnable,
            priority=task.priority,
            resources=task.process_resources(),
            params=task.to_str_params(),
            # The names a process loads the task by (a class may set task_family / task_module itself).
            family=getattr(task, "task_family", None) or task.get_task_family(),
            module=getattr(task, "task_module", type(task).__module__),
            batchable=bool(getattr(task, "batchable", False)),
            retry_policy_dict=_retry_policy_dict(task),
            accepts_messages=bool(getattr(task, "accepts_messages", False)),
            **extra,
        )

    # -- adding ------------------------------------------------------------------------------------------------------

    @staticmethod
    def _validate_task(task: Any) -> None:
        if not isinstance(task, Task):
            raise TaskException(f"Can not schedule non-task {task!r}")
        if not getattr(task, "_initialized", True):
            raise TaskException(
                f"Task of class {type(task).__name__} not initialized. Did you override __init__ and forget to call super(...).__init__?"
            )

    def add(self, task: Any, multiprocess: bool = False, processes: int = 0) -> bool:
        """Check ``task`` and everything it requires, and report each to the scheduler.

        True when every ``complete()`` and ``requires()`` on the way worked.
        """
        if self._first_task is None and hasattr(task, "task_id"):
            self._first_task = task.task_id
        self.add_succeeded = True
        self._validate_task(task)
        pool = None
        if multiprocess:  # complete() of each task checked in a pool of processes, as Luigi's parallel scheduling
            import multiprocessing

            pool = multiprocessing.Pool(processes=processes if processes > 0 else None)

        def check(t: Task) -> Any:
            return pool.apply_async(_check_complete, [t]).get if pool is not None else lambda: _check_complete(t)

        queue = [(task, check(task))]
        seen = {task.task_id}
        try:
            while queue:
                current, result = queue.pop()  # depth first, as Luigi's worker walks (task_limit keeps the first)
                for dep in self._add(current, result):
                    if dep.task_id not in seen:
                        self._validate_task(dep)
                        seen.add(dep.task_id)
                        queue.append((dep, check(dep)))
        except (KeyboardInterrupt, TaskException):
            raise
        except Exception as exc:
            import traceback

            self.add_succeeded = False
            logger.exception("Luigi unexpected framework error while scheduling %s", task)
            task.trigger_event(Event.BROKEN_TASK, task, exc)
            self._email_error(
                task,
                traceback.format_exc(),
                "Luigi: Framework error while scheduling {task}. Host: {host}",
                "Luigi framework error",
            )
            raise
        finally:
            if pool is not None:
                pool.close()
                pool.join()
        return self.add_succeeded

    def _email_error(self, task: Task, formatted_traceback: str, subject: str, headline: str) -> None:
        """Luigi's error e-mail through :mod:`nbpipe.notifications` (which logs that nothing was sent)."""
        import subprocess
        import sys

        from nbpipe import notifications

        owners = getattr(task, "owner_email", None)
        owners = [owners] if isinstance(owners, str) else list(owners or [])
        _, message = notifications.format_task_error(
            headline.format(task=task, host=self.host), task, subprocess.list2cmdline(sys.argv), formatted_traceback
        )
        notifications.send_error_email(subject.format(task=task, host=self.host), message, owners)

    def _add_task_batcher(self, task: Task) -> None:
        """Tell the scheduler, once per family, that this worker runs the family's tasks in batches."""
        family = getattr(task, "task_family", None) or task.get_task_family()
        if family in self._batch_families_sent:
            return
        names = type(task).batch_param_names()
        if names:
            self._scheduler.add_task_batcher(
                worker=self._id, task_family=family, batched_args=names, max_batch_size=task.max_batch_size
            )
        self._batch_families_sent.add(family)

    def _add(self, task: Task, checked: Any) -> list[Task]:
        """Report ``task`` with its status; the tasks it requires, to be added next.

        ``checked()`` answers ``(complete?, traceback text or None)`` for ``task``.
        """
        import traceback

        deps: list[Task] | None = None
        limit = self._config.task_limit
        if limit is not None and len(self._scheduled_tasks) >= int(limit):
            logger.warning("Will not run %s or any dependencies due to exceeded task-limit of %s", task, limit)
            status, runnable = UNKNOWN, False
        else:
            is_complete, error = checked()
            if error is not None:
                self.add_succeeded = False
                logger.warning(
                    "Will not run %s or any dependencies due to error in complete() method:\n%s", task, error
                )
                task.trigger_event(Event.DEPENDENCY_MISSING, task)
                self._email_error(
                    task,
                    error,
                    "Luigi: {task} failed scheduling. Host: {host}",
                    "Will not run {task} or any dependencies due to error in complete() method",
                )
                status, runnable = UNKNOWN, False
            elif is_complete:
                status, runnable = DONE, False
                task.trigger_event(Event.DEPENDENCY_PRESENT, task)
            elif _is_external(task):
                status, runnable = PENDING, self._config.retry_external_tasks
                task.trigger_event(Event.DEPENDENCY_MISSING, task)
                logger.warning(
                    "Data for %s does not exist (yet?). The task is an external data dependency, "
                    "so it cannot be run from this process.",
                    task,
                )
            else:
                try:
                    deps = task.deps()
                    self._add_task_batcher(task)
                except Exception as exc:  # noqa: BLE001 - requires() failing is a scheduling error, reported
                    self.add_succeeded = False
                    formatted = traceback.format_exc()
                    logger.warning(
                        "Will not run %s or any dependencies due to error in deps() method:\n%s", task, formatted
                    )
                    task.trigger_event(Event.BROKEN_TASK, task, exc)
                    self._email_error(
                        task,
                        formatted,
                        "Luigi: {task} failed scheduling. Host: {host}",
                        "Will not run {task} or any dependencies due to error in deps() method",
                    )
                    status, runnable = UNKNOWN, False
                else:
                    status, runnable = PENDING, True
            if getattr(task, "disabled", False):
                status = DISABLED
            for dep in deps or ():
                if isinstance(dep, Target):
                    raise Exception("requires() can not return Target objects. Wrap it in an ExternalTask class")
                if not isinstance(dep, Task):
                    raise Exception(f"requires() must return Task objects but {dep} is a {type(dep)}")
                task.trigger_event(Event.DEPENDENCY_DISCOVERED, task, dep)
        self._scheduled_tasks[task.task_id] = task
        self._report(task, status, [d.task_id for d in deps] if deps else None, runnable)
        return list(deps or ())

    # -- running -----------------------------------------------------------------------------------------------------

    def _add_worker(self) -> None:
        self._scheduler.add_worker(self._id, self._worker_info + [("first_task", self._first_task)])

    def _get_work(self) -> GetWorkResponse:
        if self._stop_requesting_work:
            return GetWorkResponse(None, [], 0, 0, 0, "disabled")
        if self.worker_processes > 0:
            reply = self._scheduler.get_work(
                worker=self._id,
                host=self.host,
                assistant=self._assistant,
                current_tasks=list(self._running_tasks),
            )
        else:
            reply = self._scheduler.count_pending(worker=self._id)
        task_id = reply.get("task_id")
        if task_id is None and "batch_id" in reply:
            task_id = self._claim_batch(reply)
        self._get_work_response_history.append({"task_id": task_id, "running_tasks": reply["running_tasks"]})
        if task_id is not None and "batch_task_ids" in reply:
            members = (self._scheduled_tasks.get(member) for member in reply["batch_task_ids"])
            self._batch_running_tasks[task_id] = [member for member in members if member is not None]
        if task_id is not None and task_id not in self._scheduled_tasks:
            from nbpipe.task_register import load_task

            logger.info("Did not schedule %s, will load it dynamically", task_id)
            try:
                self._scheduled_tasks[task_id] = load_task(
                    reply.get("task_module"), reply["task_family"], reply["task_params"]
                )
            except Exception as exc:  # noqa: BLE001 - a task this process cannot build fails, reported
                self._handle_task_load_error(exc, [task_id])
                task_id = None
                self.run_succeeded = False
        return GetWorkResponse(
            task_id,
            reply["running_tasks"],
            reply["n_pending_tasks"],
            reply.get("n_unique_pending", 0),
            reply.get("n_pending_last_scheduled", 0),
            reply.get("worker_state", "active"),
        )

    def _claim_batch(self, reply: dict[str, Any]) -> str | None:
        """Make the one task that runs a batch (its batched parameters combined) and tell the scheduler it runs."""
        from nbpipe.task_register import load_task

        try:
            task = load_task(reply.get("task_module"), reply["task_family"], reply["task_params"])
        except Exception as exc:  # noqa: BLE001 - a batch that cannot be made fails its tasks, reported
            self._handle_task_load_error(exc, reply["batch_task_ids"])
            self.run_succeeded = False
            return None
        self._scheduler.add_task(
            worker=self._id,
            task_id=task.task_id,
            module=reply.get("task_module"),
            family=reply["task_family"],
            params=task.to_str_params(),
            status=RUNNING,
            batch_id=reply["batch_id"],
        )
        self._scheduled_tasks.setdefault(task.task_id, task)
        return task.task_id

    def _handle_task_load_error(self, exc: BaseException, task_ids: list[str]) -> None:
        import traceback

        logger.error("Cannot find task(s) sent by scheduler: %s", ",".join(task_ids))
        expl = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        for task_id in task_ids:
            self._add_task(worker=self._id, task_id=task_id, status=FAILED, runnable=False, expl=expl)

    def _make_executor(self) -> Executor:
        from nbpipe.executors import make_executor

        scheduler = self._scheduler

        def on_progress(task_id: str, kind: str, value: Any) -> None:
            if kind == "status_message":
                scheduler.set_task_status_message(task_id, value)
            elif kind == "progress_percentage":
                scheduler.set_task_progress_percentage(task_id, value)
            elif kind == "tracking_url":
                scheduler.add_task(task_id=task_id, worker=self._id, status=RUNNING, tracking_url=value)
            elif kind == "decrease_running_resources":
                scheduler.decrease_running_task_resources(task_id, value)

        kind = "inline" if self.worker_processes <= 1 and not self._config.force_multiprocessing else "process"
        executor = make_executor(
            kind,
            max(1, self.worker_processes),
            check_unfulfilled_deps=False,  # checked by _run_task, which reschedules
            on_progress=on_progress,
            default_timeout=self._config.timeout or None,
        )
        executor.start(runtime.RunContext(runtime.new_run_id(), runtime.state_dir()))
        return executor

    def _run_task(self, task_id: str) -> None:
        if task_id in self._running_tasks:
            time.sleep(self._config.wait_interval)  # given again while still running: take a break
            return
        task = self._scheduled_tasks[task_id]
        self._running_tasks[task_id] = task
        if _is_external(task):
            # Only with retry_external_tasks: done if its data appeared meanwhile.
            done = bool(task.complete())
            reason = "" if done else "Task is an external data dependency and data does not exist (yet?)."
            self._finish(
                task, Outcome(task_id, OUTCOME_DONE if done else OUTCOME_FAILED, reason=reason, explanation=reason)
            )
            return
        if self._config.check_unfulfilled_deps:
            # Checked here, not in the executor, so the worker knows which ones and can reschedule them.
            missing = [dep.task_id for dep in task.deps() if not dep.complete()]
            if missing:
                noun = "dependency" if len(missing) == 1 else "dependencies"
                reason = f"Unfulfilled {noun} at run time: {', '.join(missing)}"
                failed = Outcome(
                    task_id, OUTCOME_FAILED, reason=reason, explanation=reason, exception=RuntimeError(reason)
                )
                self._finish(task, failed, missing)
                return
        if self._executor is None:
            self._executor = self._make_executor()
        if getattr(task, "accepts_messages", False):
            task.scheduler_messages = self._messages_for(task_id)
        task.trigger_event(Event.START, task)
        self._executor.submit(task)

    def _messages_for(self, task_id: str) -> MessageQueue:
        """The scheduler's messages for ``task_id`` so far (sent before it started), as the task's queue."""
        for message in self._scheduler.ping(worker=self._id).get("rpc_messages", []):
            if message.get("name") == "dispatch_scheduler_message":
                kwargs = message["kwargs"]
                self._pending_messages.setdefault(kwargs["task_id"], []).append(
                    SchedulerMessage(self._scheduler, kwargs["task_id"], kwargs["message_id"], kwargs["content"])
                )
        queue = MessageQueue()
        for item in self._pending_messages.pop(task_id, []):
            queue.put(item)
        return queue

    def _handle_next_task(self) -> None:
        """Wait (at most ``wait_interval`` seconds) for running tasks to end; report each end."""
        self._idle_since = None
        if self._executor is None:
            return
        for outcome in self._executor.wait(self._config.wait_interval):
            task = self._running_tasks.get(outcome.task_id)
            if task is not None:
                self._finish(task, outcome)

    def _finish(self, task: Task, outcome: Outcome, missing: list[str] | None = None) -> None:
        new_deps: list[str] = []
        if outcome.status == OUTCOME_SUSPENDED:
            for dep in outcome.new_deps:
                self.add(dep)
            new_deps = [dep.task_id for dep in outcome.new_deps]
            status, expl = SUSPENDED, ""
        elif outcome.status == OUTCOME_DONE:
            status, expl = DONE, outcome.message
            task.trigger_event(Event.SUCCESS, task)
            task.trigger_event(Event.PROCESSING_TIME, task, outcome.elapsed)
        else:
            status = FAILED
            expl = outcome.explanation or outcome.traceback or outcome.reason
            logger.error(
                "[pid %s] Worker %s failed    %s: %s\n%s",
                os.getpid(),
                self._id,
                task,
                outcome.reason,
                outcome.traceback,
            )
            if outcome.kind == "timeout":
                task.trigger_event(Event.TIMEOUT, task, outcome.reason)
            elif outcome.kind == "worker_died":
                task.trigger_event(Event.PROCESS_FAILURE, task, outcome.reason)
            task.trigger_event(Event.FAILURE, task, outcome.exception or RuntimeError(outcome.reason))
            if self._config.send_failure_email and not (_is_external(task) and self._config.retry_external_tasks):
                self._email_error(
                    task,
                    outcome.traceback or outcome.reason,
                    "Luigi: {task} FAILED. Host: {host}",
                    "A task failed when running. Most likely run() raised an exception.",
                )
        self._report(task, status, None, None, expl=json.dumps(expl), new_deps=new_deps, assistant=self._assistant)
        self._running_tasks.pop(task.task_id, None)
        if missing:
            # Add the task again so its missing requirements run first, at most max_reschedules times each.
            for dep_id in missing:
                self.unfulfilled_counts[dep_id] = self.unfulfilled_counts.get(dep_id, 0) + 1
            if all(self.unfulfilled_counts[dep_id] <= self._config.max_reschedules for dep_id in missing):
                self.add(task)
        self.run_succeeded &= status == DONE or bool(new_deps)

    def _keep_alive(self, reply: GetWorkResponse) -> bool:
        """Luigi's rule: with ``keep_alive``, stay while tasks are pending (for this worker, with count_* options)."""
        if not self._config.keep_alive:
            return False
        if self._assistant:
            return True
        if self._config.count_last_scheduled:
            return reply.n_pending_last_scheduled > 0
        if self._config.count_uniques:
            return reply.n_unique_pending > 0
        if reply.n_pending_tasks == 0:
            return False
        idle_limit = self._config.max_keep_alive_idle_duration
        if not idle_limit or not self._idle_since:
            return True
        return time.time() < self._idle_since + idle_limit

    def _sleeper(self):
        """Each ``next()`` sleeps ``wait_interval`` plus up to ``wait_jitter`` seconds."""
        while True:
            time.sleep(self._config.wait_interval + random.uniform(0, self._config.wait_jitter))
            yield

    def run(self) -> bool:
        """Ask the scheduler for work and run it until there is none; True when every task run succeeded."""
        logger.info("Running Worker with %d processes", self.worker_processes)
        self.run_succeeded = True
        self._add_worker()
        sleeper = self._sleeper()
        try:
            while True:
                while len(self._running_tasks) >= self.worker_processes > 0:
                    self._handle_next_task()
                reply = self._get_work()
                if reply.worker_state == "disabled":
                    self._start_phasing_out()
                if reply.task_id is None:
                    if self._running_tasks:
                        self._handle_next_task()
                        continue
                    self._idle_since = self._idle_since or time.time()
                    if self._keep_alive(reply):
                        next(sleeper)
                        continue
                    break
                self._run_task(reply.task_id)
            while self._running_tasks:
                self._handle_next_task()
        finally:
            self.stop()
        return self.run_succeeded

    def set_worker_processes(self, n: int) -> None:
        """Luigi's message from the scheduler; takes effect for the next run."""
        self.worker_processes = max(1, int(n))
        self._scheduler.add_worker(self._id, {"workers": self.worker_processes})

    def _generate_worker_info(self) -> list[tuple[str, Any]]:
        return list(self._worker_info)
