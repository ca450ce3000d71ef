"""What making and showing a task instance needs from its class, worked out once per parameter list.

Each plan is kept on the class (``_*_cache`` attributes) with the parameter
list it was made from, so a parameter set on the class later (which drops
that list, see ``Register.__setattr__``) gives a new plan.  Instances are
made and shown once per task of a run: these are the engine's hot path.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from nbpipe.params.base import Parameter, ParameterVisibility, serializer_of
from nbpipe.task_ids import _quote, json_template

__all__ = ["public_params", "init_plan", "repr_plan"]


def public_params(cls: Any) -> list[tuple[str, Callable[[Any], str]]]:
    """(name, serialize) of the significant public parameters: what a task's id and its str show."""
    params = cls.__dict__.get("_param_list_cache") or cls.get_params()
    cached = cls.__dict__.get("_public_params_cache")
    if cached is not None and cached[0] is params:
        return cached[1]
    spec: list[tuple[str, Callable[[Any], str]]] = [
        (name, serializer_of(p)) for name, p in params if p.significant and p.visibility == ParameterVisibility.PUBLIC
    ]
    cls._public_params_cache = (params, spec)
    return spec


def init_plan(cls: Any, params: list[tuple[str, Parameter]]) -> tuple:
    """What making an instance needs:

    (the parameter list; the parameters whose type check can warn; the public
    significant (name, serialize) pairs; their names, sorted; the set of all
    parameter names; for the task id: the sorted names, as JSON keys, their
    serializers and the JSON with a ``%s`` per value).  The base type check
    warns only for a plain ``Parameter``, so the parameters of its subclasses
    that keep it are not asked for every instance.
    """
    base_check = Parameter._warn_on_wrong_param_type
    checked = [
        (name, p)
        for name, p in params
        if type(p) is Parameter or getattr(p._warn_on_wrong_param_type, "__func__", None) is not base_check
    ]
    spec = public_params(cls)
    by_name = sorted(spec, key=lambda pair: pair[0])
    prefixes = [_quote(n) + ":" for n, _ in by_name]
    for_id = ([n for n, _ in by_name], prefixes, [s for _, s in by_name], json_template(prefixes))
    plan = (params, checked, spec, for_id[0], frozenset(name for name, _ in params), for_id)
    cls._init_plan_cache = plan
    return plan


def repr_plan(cls: Any) -> tuple:
    """What a task's str needs:

    (the parameter list; ``"(name=%s, ...)"`` or None; the values it takes,
    from ``param_kwargs``; the public (name, serialize) pairs).  The template
    serves when every value's text is its ``str()``, which ``%s`` gives: a
    run's summary sorts its tasks by their str, so one is made per task.
    """
    spec = public_params(cls)
    params = cls.get_params()
    template = None
    if all(serialize is str for _, serialize in spec):
        template = "(" + ", ".join(f"{name}=%s" for name, _ in spec) + ")"
    names = [name for name, _ in spec]
    values: Callable[[dict], Any]
    if len(names) > 1:
        values = operator.itemgetter(*names)
    elif names:
        only = names[0]

        def values(kw: dict) -> tuple:
            return (kw[only],)

    else:

        def values(kw: dict) -> tuple:
            return ()

    plan = (params, template, values, spec)
    cls._repr_plan_cache = plan
    return plan
