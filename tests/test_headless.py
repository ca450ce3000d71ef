"""`nbpipe execute NOTEBOOK` (nbclient, a real kernel) and `nbpipe run NOTEBOOK TASK`."""

import xml.etree.ElementTree as ET

import nbformat

PIPELINE = """%%pipeline
import nbpipe

class Square(nbpipe.Task):
    n = nbpipe.IntParameter()
    fail = nbpipe.BoolParameter()

    def output(self):
        return nbpipe.LocalTarget(f"squares/{self.n}.txt")

    def run(self):
        if self.fail:
            raise ValueError(f"refusing to square {self.n}")
        with self.output().open("w") as f:
            f.write(str(self.n * self.n))
"""


def notebook(path, *cells, parameters=None):
    nb = nbformat.v4.new_notebook()
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_execute_runs_cells_prints_summaries_and_writes_the_notebook(tmp_path, run_cli):
    nb = notebook(
        tmp_path / "sq.ipynb",
        "%load_ext nbpipe",
        PIPELINE,
        "%pipeline run Square --n {n}",
        "assert open(f'squares/{n}.txt').read() == str(n * n)",
        parameters="n = 3",
    )
    proc = run_cli("execute", str(nb), "-p", "n", "7")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "* 1 ran successfully:\n    - 1 Square(n=7, fail=False)" in proc.stdout
    assert "sq.ipynb: OK — 1 pipeline run(s), 1 task(s) ran, 0 failed" in proc.stdout
    assert (tmp_path / "squares" / "7.txt").read_text() == "49"
    executed = nbformat.read(tmp_path / "sq.executed.ipynb", as_version=4)
    assert executed.cells[1].metadata["tags"] == ["injected-parameters"]
    assert "n = 7" in executed.cells[1].source
    assert nbformat.read(nb, as_version=4).cells[1].source == "%load_ext nbpipe"  # the input is untouched


def test_failed_task_exits_30_with_a_junit_case_naming_it(tmp_path, run_cli):
    nb = notebook(tmp_path / "bad.ipynb", "%load_ext nbpipe", PIPELINE, "%pipeline run Square --n 2 --fail")
    proc = run_cli("execute", str(nb), "--junit", str(tmp_path / "junit.xml"))
    assert proc.returncode == 30, proc.stdout + proc.stderr
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.get("tests") == "1" and suite.get("failures") == "1"
    case = suite.find("testcase")
    assert case.get("name") == "Square(n=2, fail=True)"
    failure = case.find("failure")
    assert failure.get("message").startswith("ValueError: refusing to square 2")
    assert "Traceback" in failure.text


def test_cell_error_timeout_and_bad_input_have_their_own_codes(tmp_path, run_cli):
    errors = notebook(tmp_path / "err.ipynb", "x = 1", "raise KeyError('missing column')")
    proc = run_cli("execute", str(errors), "--junit", str(tmp_path / "j.xml"))
    assert proc.returncode == 50
    assert "cell 1 raised KeyError" in proc.stdout
    assert ET.parse(tmp_path / "j.xml").getroot().find("testcase/error").get("type") == "KeyError"
    slow = notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(30)")
    proc = run_cli("execute", str(slow), "--timeout", "1")
    assert proc.returncode == 60 and "longer than --timeout 1 s" in proc.stdout
    (tmp_path / "broken.ipynb").write_text("{not json")
    proc = run_cli("execute", str(tmp_path / "broken.ipynb"))
    assert proc.returncode == 2 and "not a valid notebook" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("execute", str(tmp_path / "nope.ipynb"))
    assert proc.returncode == 2 and "no such notebook" in proc.stderr
    proc = run_cli("execute", str(errors), "-p", "1x", "2")
    assert proc.returncode == 2 and "-p 1x: not a Python name" in proc.stderr


def test_run_builds_from_the_pipeline_cells_only(tmp_path, run_cli):
    nb = notebook(tmp_path / "pipe.ipynb", "%load_ext nbpipe", PIPELINE, "raise SystemExit('not a pipeline cell')")
    proc = run_cli("run", str(nb), "Square", "--n", "4", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "squares" / "4.txt").read_text() == "16"


def test_a_failing_pipeline_cell_is_named_by_index_and_line(tmp_path, run_cli):
    nb = notebook(tmp_path / "oops.ipynb", "%load_ext nbpipe", "%%pipeline\nimport nbpipe\nx = 1 / 0\n")
    proc = run_cli("run", str(nb), "Anything")
    assert proc.returncode == 2
    assert "oops.ipynb: %%pipeline cell 1, line 3: ZeroDivisionError: division by zero" in proc.stderr
    assert "Traceback" not in proc.stderr
