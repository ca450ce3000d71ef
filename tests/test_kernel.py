"""The magics in a real IPython kernel (jupyter_client), without a browser."""

import textwrap

import pytest

pytestmark = pytest.mark.slow  # every test here starts processes, kernels or a browser

jupyter_client = pytest.importorskip("jupyter_client")

CELL = textwrap.dedent("""\
    %%pipeline
    import os, time
    import nbpipe

    class WaitsForRelease(nbpipe.Task):
        i = nbpipe.IntParameter()

        def output(self):
            return nbpipe.LocalTarget(f"out/{self.i}")

        def run(self):
            open(f"started_{self.i}", "w").close()
            while not os.path.exists("release"):   # the test decides when the work ends
                time.sleep(0.01)
            with self.output().open("w") as f:
                f.write("x")

    class All(nbpipe.WrapperTask):
        def requires(self):
            return [WaitsForRelease(i) for i in range(3)]
""")


@pytest.fixture
def kernel(tmp_path):
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def execute(kc, code, timeout=60):
    """Run code; return (status, text printed on stdout, plain-text results)."""
    msg_id = kc.execute(code)
    stdout, results = [], []
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content["name"] == "stdout":
            stdout.append(content["text"])
        elif kind in ("execute_result", "display_data"):
            results.append(content["data"].get("text/plain", ""))
        elif kind == "status" and content["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=timeout)
    return reply["content"]["status"], "".join(stdout), results


def test_background_run_keeps_the_kernel_responsive(kernel, tmp_path):
    assert execute(kernel, "%load_ext nbpipe")[0] == "ok"
    status, _, results = execute(kernel, CELL)
    assert status == "ok" and any("WaitsForRelease(i), All()" in r for r in results)
    status, _, results = execute(kernel, "w = %pipeline run All --background")
    assert status == "ok"
    assert any("WaitsForRelease(i=0)" in r for r in results)  # the widget's plain-text form
    # The run is in flight (a task has started and waits); the kernel still answers.
    deadline_code = (
        "import time, os\nt = time.monotonic()\n"
        "while not os.path.exists('started_0') and time.monotonic() - t < 30: time.sleep(0.01)\n"
        "print(os.path.exists('started_0'), w.running)"
    )
    assert execute(kernel, deadline_code)[1].strip() == "True True"
    assert execute(kernel, "print(1 + 1)")[1].strip() == "2"
    (tmp_path / "release").touch()
    status, out, _ = execute(kernel, "w.wait(60); print(w.running, sorted(w.states.values()))")
    assert out.strip() == "False ['ran', 'ran', 'ran', 'ran']"


def _widget_outputs(kc, code, timeout=60):
    """How many outputs of ``code`` carry a widget view (display_data and execute_result alike)."""
    msg_id = kc.execute(code)
    count = 0
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] in ("execute_result", "display_data"):
            count += "application/vnd.jupyter.widget-view+json" in msg["content"]["data"]
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    kc.get_shell_msg(timeout=timeout)
    return count


def test_each_magic_shows_the_widget_once(kernel, tmp_path):
    """`%pipeline show X` and `%pipeline run X --background` put one live widget on the page, not two."""
    assert execute(kernel, "%load_ext nbpipe")[0] == "ok"
    assert execute(kernel, CELL)[0] == "ok"
    assert _widget_outputs(kernel, "%pipeline show All") == 1
    (tmp_path / "release").touch()
    assert _widget_outputs(kernel, "%pipeline run All --background") == 1
    assert _widget_outputs(kernel, "w = %pipeline show All") == 1
    assert _widget_outputs(kernel, "w") == 1  # a later cell shows it again, on purpose
