"""Luigi's task id: ``Family_<first three parameter values>_<md5 of them all, 10 hex digits>``.

Made once per task instance, so it is kept cheap; the result is the same,
character for character, as Luigi's ``task_id_str``.
"""

from __future__ import annotations

import hashlib
import json
import re

__all__ = ["TASK_ID_INCLUDE_PARAMS", "TASK_ID_TRUNCATE_PARAMS", "TASK_ID_TRUNCATE_HASH", "task_id_str"]

TASK_ID_INCLUDE_PARAMS = 3
TASK_ID_TRUNCATE_PARAMS = 16
TASK_ID_TRUNCATE_HASH = 10
TASK_ID_INVALID_CHAR_REGEX = re.compile(r"[^A-Za-z0-9_]")
_json_dumps = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode
_quote = json.encoder.encode_basestring_ascii  # what json.dumps uses for a str (ensure_ascii)
try:
    # CPython's own MD5, about twice as fast as OpenSSL's on a task id's few bytes (one per task made).
    from _md5 import md5 as _md5
except ImportError:  # a Python built without it
    _md5 = hashlib.md5


def _params_json(params: dict[str, str], names: list[str]) -> str:
    """``json.dumps(params, separators=(",", ":"), sort_keys=True)`` (``names``: the sorted keys), about
    twice as fast for string values."""
    try:
        return "{" + ",".join([_quote(name) + ":" + _quote(params[name]) for name in names]) + "}"
    except TypeError:  # a serialize() that returned something other than a str
        return _json_dumps(params)


def task_id_str(task_family: str, params: dict[str, str]) -> str:
    """Luigi's canonical task id for a family and its serialised parameters."""
    return _task_id(task_family, params, sorted(params))


def _task_id(task_family: str, params: dict[str, str], names: list[str]) -> str:
    """:func:`task_id_str`, given the parameter names sorted."""
    return _task_id_and_json(task_family, params, names)[0]


def _task_id_and_json(task_family: str, params: dict[str, str], names: list[str]) -> tuple[str, str]:
    """(:func:`task_id_str`, the JSON of ``params`` it hashes), given the parameter names sorted."""
    return _finish(task_family, _params_json(params, names), [params[p] for p in names[:TASK_ID_INCLUDE_PARAMS]])


def task_id_from_sorted(
    task_family: str, names: list[str], prefixes: list[str], values: list[str], template: str = ""
) -> tuple[str, str]:
    """:func:`_task_id_and_json` from the serialised ``values`` of the parameters ``names`` (sorted),
    with ``prefixes`` those names as JSON keys (``'"name":'``): no dict to build for each instance.

    ``template`` is the JSON with ``%s`` for each value between its quotes: values made only of
    ASCII letters and digits (numbers, names) need no escaping, so they are put in as they are.
    """
    if template:
        try:
            joined = "".join(values)
        except TypeError:  # a serialize() that returned something other than a str
            joined = None
        if joined is not None and joined.isascii() and (joined.isalnum() or not joined):
            return _finish(task_family, template % tuple(values), values[:TASK_ID_INCLUDE_PARAMS])
    try:
        params_json = (
            "{" + ",".join([prefix + _quote(value) for prefix, value in zip(prefixes, values, strict=True)]) + "}"
        )
    except TypeError:  # a serialize() that returned something other than a str
        params_json = _json_dumps(dict(zip(names, values, strict=True)))
    return _finish(task_family, params_json, values[:TASK_ID_INCLUDE_PARAMS])


def json_template(prefixes: list[str]) -> str:
    """The JSON :func:`task_id_from_sorted` makes, with ``%s`` for each value (``%`` doubled elsewhere)."""
    return "{" + ",".join([prefix.replace("%", "%%") + '"%s"' for prefix in prefixes]) + "}"


def _finish(task_family: str, params_json: str, first_values: list[str]) -> tuple[str, str]:
    param_hash = _md5(params_json.encode("utf-8"), usedforsecurity=False).hexdigest()
    if first_values:
        summary = "_".join([value[:TASK_ID_TRUNCATE_PARAMS] for value in first_values])
        if not (summary.isascii() and summary.replace("_", "").isalnum()):  # (the usual case needs no regex)
            summary = TASK_ID_INVALID_CHAR_REGEX.sub("_", summary)
    else:
        summary = ""
    return f"{task_family}_{summary}_{param_hash[:TASK_ID_TRUNCATE_HASH]}", params_json
