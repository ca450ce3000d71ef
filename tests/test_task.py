"""The task DSL: ids, instance cache, parameters from config, redefinition, util decorators."""

import datetime
import os
import textwrap

import pytest

import nbpipe
from nbpipe import configuration as config
from nbpipe.parameter import MissingParameterException, UnknownParameterException
from nbpipe.task_register import TaskClassNotFoundException, get_task_cls
from nbpipe.util import inherits, requires


class Report(nbpipe.Task):
    date = nbpipe.DateParameter()
    region = nbpipe.Parameter(default="eu")
    limit = nbpipe.IntParameter(default=10, significant=False)
    secret = nbpipe.Parameter(default="s", visibility=nbpipe.parameter.ParameterVisibility.PRIVATE)


def test_task_id_and_repr_match_luigi():
    import luigi

    class Report(luigi.Task):  # the same class, defined with Luigi
        date = luigi.DateParameter()
        region = luigi.Parameter(default="eu")
        limit = luigi.IntParameter(default=10, significant=False)
        secret = luigi.Parameter(default="s", visibility=luigi.parameter.ParameterVisibility.PRIVATE)

    ours = globals()["Report"](datetime.date(2024, 1, 31), region="us")
    theirs = Report(datetime.date(2024, 1, 31), region="us")
    assert ours.task_id == theirs.task_id
    # Luigi prints private parameters (secrets) in its repr; nbpipe does not.
    assert str(theirs) == "Report(date=2024-01-31, region=us, secret=s)"
    assert str(ours) == "Report(date=2024-01-31, region=us)"
    assert ours.to_str_params() == theirs.to_str_params()
    assert ours.to_str_params(only_significant=True) == theirs.to_str_params(only_significant=True)


class StrNone(nbpipe.Task):
    pass


class StrOne(nbpipe.Task):
    text = nbpipe.Parameter()


class StrMany(nbpipe.Task):
    n = nbpipe.IntParameter()
    ratio = nbpipe.FloatParameter()
    flag = nbpipe.BoolParameter()
    maybe = nbpipe.OptionalParameter(default=None)
    items = nbpipe.ListParameter()
    day = nbpipe.DateParameter()
    quiet = nbpipe.IntParameter(default=0, significant=False)
    token = nbpipe.Parameter(default="t", visibility=nbpipe.parameter.ParameterVisibility.HIDDEN)


@pytest.mark.parametrize(
    "task",
    [
        StrNone(),
        StrOne(text="100% (sure), %s %d"),
        StrOne(text=""),
        StrMany(n=-3, ratio=0.1, flag=True, items=[1, "a"], day=datetime.date(2024, 2, 29)),
        StrMany(n=3, ratio=1e-20, flag=False, maybe="x%", items=[], day=datetime.date(1999, 1, 1)),
    ],
    ids=str,
)
def test_a_task_s_str_is_its_family_and_each_public_significant_value_as_serialize_writes_it(task):
    shown = [
        f"{name}={param.serialize(getattr(task, name))}"
        for name, param in task.get_params()
        if param.significant and param.visibility == nbpipe.parameter.ParameterVisibility.PUBLIC
    ]
    assert str(task) == repr(task) == f"{task.get_task_family()}({', '.join(shown)})"


def test_a_parameter_set_on_the_class_later_shows_in_str():
    class Later(nbpipe.Task):
        a = nbpipe.IntParameter()

    assert str(Later(a=1)) == "Later(a=1)"
    Later.b = nbpipe.Parameter(default="x")  # as util.inherits does
    assert str(Later(a=2)) == "Later(a=2, b=x)"


def test_instance_cache_and_equality():
    a = Report(datetime.date(2024, 1, 1))
    assert Report(date=datetime.date(2024, 1, 1), region="eu") is a
    assert Report(datetime.date(2024, 1, 2)) != a
    assert len({a, Report(datetime.date(2024, 1, 1))}) == 1


def test_parameter_errors_name_the_task_and_parameter():
    with pytest.raises(MissingParameterException, match="Report: requires the 'date' parameter to be set"):
        Report()
    with pytest.raises(UnknownParameterException, match="Report: unknown parameter 'regoin'; did you mean 'region'"):
        Report(datetime.date(2024, 1, 1), regoin="x")
    with pytest.raises(UnknownParameterException, match="takes at most 4 positional"):
        Report(1, 2, 3, 4, 5)


def test_clone_and_from_str_params():
    a = Report(datetime.date(2024, 1, 1), region="us")
    assert a.clone(region="eu") is Report(datetime.date(2024, 1, 1))
    assert Report.from_str_params({"date": "2024-01-01", "region": "us"}) is a


def test_defaults_from_nbpipe_toml_luigi_style_sections(tmp_path):
    (tmp_path / "nbpipe.toml").write_text(
        textwrap.dedent("""
        [Report]
        region = "apac"
        date = 2023-05-06
    """)
    )
    config.reload_config()
    t = Report()
    assert t.region == "apac" and t.date == datetime.date(2023, 5, 6)


def test_defaults_from_pyproject_tool_table_with_namespaced_family(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent("""
        [tool.nbpipe.examples.Scoped]
        n = 7
    """)
    )
    config.reload_config()

    class Scoped(nbpipe.Task):
        task_namespace = "examples"
        n = nbpipe.IntParameter()

    assert Scoped().n == 7


def test_defaults_from_a_luigi_cfg_ini_file(tmp_path, monkeypatch):
    ini = tmp_path / "luigi.cfg"
    ini.write_text("[Report]\nregion=latam\ndate=2020-02-02\n")
    monkeypatch.setenv("NBPIPE_CONFIG_PATH", str(ini))
    config.reload_config()
    assert Report().region == "latam"


def test_bad_config_value_names_section_option_and_form(tmp_path):
    (tmp_path / "nbpipe.toml").write_text('[Report]\ndate = "soon"\n')
    config.reload_config()
    with pytest.raises(nbpipe.parameter.ParameterException, match=r"\[Report\] date = 'soon'"):
        Report()


def test_redefining_a_class_replaces_it_in_the_registry():
    ns = {}
    source = "import nbpipe\nclass Redefined(nbpipe.Task):\n    x = nbpipe.IntParameter(default={})\n"
    exec(compile(source.format(1), "<cell>", "exec"), ns)
    first = get_task_cls("Redefined")
    exec(compile(source.format(2), "<cell>", "exec"), ns)
    second = get_task_cls("Redefined")
    assert first is not second and second().x == 2
    assert first().x == 1  # old instances are not confused with the new class


def test_unknown_task_suggests_close_names():
    with pytest.raises(TaskClassNotFoundException, match="did you mean 'Report'"):
        get_task_cls("Reprot")


class Upstream(nbpipe.Task):
    a = nbpipe.IntParameter()
    b = nbpipe.Parameter(default="x")


def test_util_requires_and_inherits():
    @requires(Upstream)
    class Down(nbpipe.Task):
        c = nbpipe.IntParameter(default=0)

    d = Down(a=1, c=2)
    assert d.requires() is Upstream(1)
    assert [n for n, _ in Down.get_params()] == ["a", "b", "c"]

    @inherits(Upstream)
    class Other(nbpipe.Task):
        def requires(self):
            return self.clone_parent(b="y")

    assert Other(a=3).requires() is Upstream(3, "y")


def test_namespace_sets_the_family():
    nbpipe.namespace("teamx", scope=__name__)
    try:

        class Scoped2(nbpipe.Task):
            pass
    finally:
        nbpipe.namespace(scope=__name__)
    assert Scoped2.get_task_family() == "teamx.Scoped2"
    assert get_task_cls("teamx.Scoped2") is Scoped2


def test_event_handlers_fire_in_the_driver_and_redefinition_does_not_duplicate():
    calls = []
    for _ in range(2):  # re-running the "cell" that registers the handler

        @Upstream.event_handler(nbpipe.Event.SUCCESS)
        def on_success(task):
            calls.append(task)

    class Ok(Upstream):
        def complete(self):
            return False

        def run(self):
            pass

    class Wrap(nbpipe.WrapperTask):
        def requires(self):
            return [Ok(a=1)]

    nbpipe.configuration.set_option("worker", "check_unfulfilled_deps", False)
    nbpipe.build([Wrap()])
    assert calls == [Ok(a=1)]
    Upstream._event_callbacks.pop(Upstream, None)


def test_a_task_unpickled_in_another_process_hashes_like_one_made_there(tmp_path):
    import subprocess
    import sys

    module = tmp_path / "hash_tasks.py"
    module.write_text("import nbpipe\n\nclass H(nbpipe.Task):\n    n = nbpipe.IntParameter()\n")
    code = (
        "import pickle, sys, hash_tasks\n"
        "sent = pickle.loads(sys.stdin.buffer.read())\n"
        "made = hash_tasks.H(n=7)\n"
        "print(sent == made, hash(sent) == hash(made), made in {sent})\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import pickle

        import hash_tasks

        payload = pickle.dumps(hash_tasks.H(n=7))
    finally:
        sys.path.remove(str(tmp_path))
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]), PYTHONHASHSEED="123"
    )
    out = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True, env=env, check=True)
    assert out.stdout.decode().split() == ["True", "True", "True"]
