"""Decorators to share parameters between tasks (Luigi's ``luigi.util``).

``@inherits(A)`` copies A's parameters onto the decorated class and adds
``clone_parent()``; ``@requires(A)`` does the same and makes ``requires()``
return that clone.  Several classes (or keyword arguments) may be given.
"""

from __future__ import annotations

from nbpipe.task import Task

__all__ = ["inherits", "requires", "copies", "common_params", "delegates", "previous", "get_previous_completed"]


def common_params(task_instance: Task, task_cls: type) -> dict:
    """The parameter values of ``task_instance`` that ``task_cls`` also has."""
    if not (isinstance(task_cls, type) and issubclass(task_cls, Task)):
        raise TypeError("task_cls must be a Task class, not an instance")
    names = {n for n, _ in task_cls.get_params()}
    return {n: v for n, v in task_instance.param_kwargs.items() if n in names}


class inherits:
    """Copy the parameters of the given task classes onto the decorated class."""

    def __init__(self, *tasks_to_inherit, **kw_tasks_to_inherit):
        if not tasks_to_inherit and not kw_tasks_to_inherit:
            raise TypeError("inherits() needs at least one task class")
        if tasks_to_inherit and kw_tasks_to_inherit:
            raise TypeError("inherits() takes task classes either positionally or by keyword, not both")
        self.tasks_to_inherit = tasks_to_inherit
        self.kw_tasks_to_inherit = kw_tasks_to_inherit

    def __call__(self, task_that_inherits):
        for parent in self.tasks_to_inherit or self.kw_tasks_to_inherit.values():
            for name, param in parent.get_params():
                if not hasattr(task_that_inherits, name):
                    setattr(task_that_inherits, name, param)
        if self.tasks_to_inherit:
            parents = self.tasks_to_inherit

            def clone_parent(_self, **kwargs):
                return _self.clone(cls=parents[0], **kwargs)

            def clone_parents(_self, **kwargs):
                return [_self.clone(cls=parent, **kwargs) for parent in parents]

            task_that_inherits.clone_parent = clone_parent
        else:
            named = self.kw_tasks_to_inherit

            def clone_parents(_self, **kwargs):
                return {key: _self.clone(cls=parent, **kwargs) for key, parent in named.items()}

        task_that_inherits.clone_parents = clone_parents
        return task_that_inherits


class requires:
    """Like :class:`inherits`, and ``requires()`` returns the parent clone(s)."""

    def __init__(self, *tasks_to_require, **kw_tasks_to_require):
        self.tasks_to_require = tasks_to_require
        self.kw_tasks_to_require = kw_tasks_to_require

    def __call__(self, task_that_requires):
        task_that_requires = inherits(*self.tasks_to_require, **self.kw_tasks_to_require)(task_that_requires)
        single = len(self.tasks_to_require) == 1

        def requires(_self):
            return _self.clone_parent() if single else _self.clone_parents()

        task_that_requires.requires = requires
        return task_that_requires


class copies:
    """Luigi's ``@copies(Task)``: requires ``Task`` (as :class:`requires` does) and copies its output into its own.

    The decorated class's ``run()`` copies ``self.input()`` to
    ``self.output()`` line by line; it must define ``output()``.
    """

    def __init__(self, task_to_copy):
        self.requires_decorator = requires(task_to_copy)

    def __call__(self, task_that_copies):
        task_that_copies = self.requires_decorator(task_that_copies)

        def run(_self):
            with _self.input().open("r") as source, _self.output().open("w") as sink:
                for line in source:
                    sink.write(line)

        task_that_copies.run = run
        return task_that_copies


def delegates(task_that_delegates):
    """Luigi's ``@delegates``: ``subtasks()`` become requirements run inline."""
    if not hasattr(task_that_delegates, "subtasks"):
        raise AttributeError(f"{task_that_delegates.__name__} needs a subtasks() method to use @delegates")

    original_requires = task_that_delegates.requires

    def requires(_self):
        from nbpipe.task import flatten

        return flatten(original_requires(_self)) + [
            dep for sub in flatten(_self.subtasks()) for dep in flatten(sub.requires())
        ]

    task_that_delegates.requires = requires
    return task_that_delegates


def previous(task: Task) -> Task:
    """The same task one step earlier on its single date-like parameter.

    The step is the parameter's ``interval`` (1 by default) of its unit (day,
    hour, minute, second); a ``DateIntervalParameter`` steps to the interval
    before (``prev()``).  Raises NotImplementedError when the task has no
    such parameter or more than one.
    """
    import datetime

    from nbpipe.params.time import (
        DateHourParameter,
        DateIntervalParameter,
        DateMinuteParameter,
        DateParameter,
        DateSecondParameter,
    )

    units = (
        (DateSecondParameter, "seconds"),
        (DateMinuteParameter, "minutes"),
        (DateHourParameter, "hours"),
        (DateParameter, "days"),
    )
    earlier = {}
    for name, param in task.get_params():
        value = task.param_kwargs[name]
        if isinstance(param, DateIntervalParameter):
            earlier[name] = value.prev()
            continue
        unit = next((u for kind, u in units if isinstance(param, kind)), None)
        if unit is not None:
            step = getattr(param, "interval", 1) or 1
            earlier[name] = value - datetime.timedelta(**{unit: step})
    if not earlier:
        raise NotImplementedError(f"{task}: previous() needs a date parameter; the task has none")
    if len(earlier) > 1:
        raise NotImplementedError(
            f"{task}: previous() needs exactly one date parameter, found {len(earlier)}: {', '.join(earlier)}"
        )
    return task.clone(**earlier)


def get_previous_completed(task: Task, max_steps: int = 10) -> Task | None:
    """The nearest earlier instance of ``task`` (see :func:`previous`) that is complete, within ``max_steps``; else None."""
    earlier = task
    for _ in range(max_steps):
        earlier = previous(earlier)
        if earlier.complete():
            return earlier
    return None
