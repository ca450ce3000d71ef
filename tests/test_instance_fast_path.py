"""The raw-argument fast path of the instance cache gives exactly what binding and normalising give."""

from __future__ import annotations

import datetime
import os

import pytest

import nbpipe
from nbpipe import configuration
from nbpipe.task_register import Register, _forget_raw_keys


class Pair(nbpipe.Task):
    a = nbpipe.IntParameter()
    b = nbpipe.Parameter(default="x")


def test_positional_named_and_default_give_one_instance():
    first = Pair(1)
    assert Pair(1) is first
    assert Pair(a=1) is first
    assert Pair(1, "x") is first
    assert Pair(a=1, b="x") is first
    assert Pair(b="x", a=1) is first
    assert Pair(2) is not first


def _slow(cls, *args, **kwargs):
    """What the cache gives without any raw-argument key (binding and normalising)."""
    _forget_raw_keys()
    return cls(*args, **kwargs)


def test_values_that_compare_equal_across_types_get_what_binding_gets():
    class Loose(nbpipe.Task):
        v = nbpipe.Parameter()

    # 1 == True == 1.0: the fast path must not answer for one with the other's instance
    for value in (1, True, 1.0, "1", 1, True, 1.0, "1"):
        got = Loose(v=value)
        assert got is _slow(Loose, v=value)
        assert got is Loose(v=value)


def test_normalised_equal_values_share_the_instance():
    class Flag(nbpipe.Task):
        f = nbpipe.BoolParameter()

    t = Flag(f="true")
    assert Flag(f="True") is t  # different raw arguments, one normalised value
    assert Flag(f=True) is t
    assert Flag(f="true") is t


def test_dates_and_date_parameters():
    class Daily(nbpipe.Task):
        day = nbpipe.DateParameter()

    d = Daily(day=datetime.date(2024, 1, 2))
    assert Daily(day=datetime.date(2024, 1, 2)) is d
    assert Daily(day=datetime.datetime(2024, 1, 2, 5)) is d  # normalised to the date


def test_config_default_change_between_calls_gives_the_new_default():
    class Configured(nbpipe.Task):
        n = nbpipe.IntParameter(default=1)

    assert Configured().n == 1
    assert Configured() is Configured()
    configuration.get_config().set("Configured", "n", "7")
    assert Configured().n == 7
    assert Configured() is Configured(n=7)
    configuration.get_config().set("Configured", "n", "2")
    assert Configured().n == 2


def test_swapped_config_object_gives_its_defaults(tmp_path):
    class Swapped(nbpipe.Task):
        n = nbpipe.IntParameter(default=1)

    assert Swapped().n == 1
    saved = configuration.LuigiConfigParser._instance
    cfg = configuration.LuigiConfigParser()
    if not cfg.has_section("Swapped"):
        cfg.add_section("Swapped")
    cfg.set("Swapped", "n", "3")
    configuration.LuigiConfigParser._instance = cfg
    try:
        assert Swapped().n == 3
    finally:
        configuration.LuigiConfigParser._instance = saved
    assert Swapped().n == 1


def test_redefined_class_gives_new_instances():
    def define():
        class Redefined(nbpipe.Task):
            k = nbpipe.IntParameter()

        return Redefined

    old = define()
    o = old(k=1)
    new = define()
    n = new(k=1)
    assert n is not o and type(n) is new and type(o) is old
    assert new(k=1) is n
    assert old(k=1) is o


def test_cleared_or_disabled_cache():
    t = Pair(a=5)
    Register.clear_instance_cache()
    assert Pair(a=5) is not t
    u = Pair(a=5)
    assert Pair(a=5) is u
    Register.disable_instance_cache()
    try:
        assert Pair(a=5) is not Pair(a=5)
    finally:
        Register.clear_instance_cache()


def test_impure_normalize_is_called_every_time(tmp_path):
    path = tmp_path / "p"
    path.write_text("")

    class Checked(nbpipe.Task):
        p = nbpipe.PathParameter(exists=True)

    Checked(p=str(path))
    os.remove(path)
    with pytest.raises(Exception):  # noqa: B017 - whatever normalize raises when the path is gone
        Checked(p=str(path))


def test_user_normalize_is_called_every_time():
    calls = []

    class Counting(nbpipe.Parameter):
        def normalize(self, x):
            calls.append(x)
            return x

    class UsesCounting(nbpipe.Task):
        c = Counting()

    t = UsesCounting(c="a")
    assert UsesCounting(c="a") is t
    assert calls == ["a", "a"]


def test_parameter_added_after_class_creation():
    class Grows(nbpipe.Task):
        a = nbpipe.IntParameter()

    g = Grows(a=1)
    Grows.b = nbpipe.IntParameter(default=2)
    h = Grows(a=1)
    assert h is not g and h.b == 2


def test_errors_are_raised_every_time():
    with pytest.raises(nbpipe.parameter.UnknownParameterException):
        Pair(a=1, c=2)
    with pytest.raises(nbpipe.parameter.UnknownParameterException):
        Pair(a=1, c=2)
    with pytest.raises(nbpipe.parameter.MissingParameterException):
        Pair()
