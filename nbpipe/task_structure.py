"""The structure of requirements and outputs (:func:`flatten`, :func:`getpaths`, :func:`flatten_output`),
dynamic requirements, and the task helpers that need no :class:`~nbpipe.task.Task` (externalize, bulk completion).

Pure functions over tasks, targets and nested containers of them; a task is
recognised by its metaclass (:class:`~nbpipe.task_register.Register`), so this
module does not import :mod:`nbpipe.task`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from nbpipe.task_register import Register

__all__ = [
    "flatten",
    "getpaths",
    "flatten_output",
    "DynamicRequirements",
    "MixinNaiveBulkComplete",
    "externalize",
    "is_external",
]


def _is_task(value: Any) -> bool:
    return isinstance(type(value), Register)


def getpaths(struct):
    """The outputs of a task, or of each task in a (nested) structure."""
    if _is_task(struct):
        return struct.output()
    if isinstance(struct, dict):
        return struct.__class__((k, getpaths(v)) for k, v in struct.items())
    if isinstance(struct, (list, tuple)):
        return struct.__class__(getpaths(r) for r in struct)
    try:
        return [getpaths(r) for r in struct]
    except TypeError:
        raise Exception(f"Cannot map {struct} to Task/dict/list") from None


def flatten(struct) -> list:
    """A flat list from None, a value, a dict's values or an iterable (not str)."""
    if struct is None:
        return []
    if isinstance(struct, dict):
        out = []
        for value in struct.values():
            out.extend(flatten(value))
        return out
    if isinstance(struct, (list, tuple)):
        # Fast path for the common flat list of tasks/targets.
        out = []
        for item in struct:
            if type(type(item)) is Register:  # a task (the usual item): one check, not four
                out.append(item)
            elif isinstance(item, (list, tuple, dict)) or (
                not (isinstance(item, str) or _is_task(item))
                and hasattr(item, "__iter__")
                and not hasattr(item, "exists")
            ):
                out.extend(flatten(item))
            else:
                out.append(item)
        return out
    if isinstance(struct, str) or _is_task(struct):
        return [struct]
    if hasattr(struct, "exists"):  # a Target
        return [struct]
    try:
        iterator = iter(struct)
    except TypeError:
        return [struct]
    out = []
    for item in iterator:
        out.extend(flatten(item))
    return out


def flatten_output(task: Any) -> list:
    """The outputs of ``task``, or of its dependencies when it has none (wrappers), each task's once.

    Wrappers are walked breadth first; a task reached along two paths of a
    diamond contributes its outputs once, where it was first met (Luigi's rule).
    """
    producers: dict = {}  # insertion-ordered set of the tasks whose outputs are listed
    queue = deque([task])
    while queue:
        node = queue.popleft()
        if flatten(node.output()):
            producers.setdefault(node, None)
        else:
            queue.extend(flatten(node.requires()))
    return flatten([node.output() for node in producers])


class MixinNaiveBulkComplete:
    """Gives a task class ``bulk_complete``, checking each parameter tuple's ``complete()`` in turn.

    For tasks whose completeness check is cheap, so that range tools can ask
    for many at once.  A tuple may be positional values, a dict of keyword
    values, or one value.
    """

    @classmethod
    def bulk_complete(cls, parameter_tuples):
        done = []
        for values in parameter_tuples:
            if isinstance(values, (list, tuple)):
                task = cls(*values)
            elif isinstance(values, dict):
                task = cls(**values)
            else:
                task = cls(values)
            if task.complete():
                done.append(values)
        return done


def externalize(taskclass_or_taskobject):
    """A copy of the task class (or task) whose ``run`` is None."""
    import copy

    copied = copy.copy(taskclass_or_taskobject)
    if copied is taskclass_or_taskobject:
        # A class: make a subclass with the same family and no run().
        cls = taskclass_or_taskobject
        clone = type(
            cls.__name__,
            (cls,),
            {"run": None, "__module__": cls.__module__, "task_namespace": cls.get_task_namespace()},
        )
        return clone
    copied.run = None
    return copied


def is_external(task: Any) -> bool:
    run = task.run  # (one bound method, not two: this is asked of every task that is not complete)
    return run is None or run is NotImplemented


class DynamicRequirements:
    """Requirements yielded from run() with an optional bulk completeness check."""

    def __init__(self, requirements, custom_complete: Callable | None = None):
        self.requirements = requirements
        self.custom_complete = custom_complete
        self.flat_requirements = flatten(requirements)
        self.paths = getpaths(requirements)

    def complete(self, complete_fn: Callable | None = None) -> bool:
        complete_fn = complete_fn or (lambda task: task.complete())
        if self.custom_complete:
            return bool(self.custom_complete(complete_fn))
        return all(complete_fn(t) for t in self.flat_requirements)
