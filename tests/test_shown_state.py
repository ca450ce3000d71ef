"""One vocabulary of shown states: the Python definitions, their mappings, and the TypeScript generated from them."""

import ast
import re
from pathlib import Path

from nbpipe.engine import shown_state
from nbpipe.engine.events import ALL_KINDS
from nbpipe.engine.scheduling import ALL_STATES
from nbpipe.engine.shown_state import (
    GROUP_PRIORITY,
    LEGEND_ORDER,
    SHOWN_FOR_EVENT,
    SHOWN_FOR_SCHEDULER_STATE,
    STYLES,
    ShownState,
    shown_for_event,
    typescript_source,
)

LABEXTENSION = Path(__file__).resolve().parent.parent / "labextension"
GENERATED = LABEXTENSION / "src" / "states.generated.ts"
REGENERATE = "PYTHONPATH=. python -m nbpipe.engine.shown_state > labextension/src/states.generated.ts"

#: State names the front end used before ShownState; none may come back in a hand-written list.
OLD_STATE_NAMES = ("pending", "done", "missing", "external", "broken")


# ------------------------------------------------------------ generated file


def test_generated_typescript_is_current():
    assert GENERATED.exists(), f"{GENERATED} is missing; generate it with (from the repository root):\n  {REGENERATE}"
    committed = GENERATED.read_text(encoding="utf-8")
    assert committed == typescript_source(), (
        f"{GENERATED.relative_to(LABEXTENSION.parent)} is out of date with nbpipe/engine/shown_state.py; "
        f"regenerate it with (from the repository root):\n  {REGENERATE}"
    )


def _ts_constant(source: str, name: str) -> str:
    """The initialiser of ``export const NAME ... = <value>;`` in generated TypeScript."""
    m = re.search(rf"^export const {name}\b[^=]*= (.*?);$", source, re.M | re.S)
    assert m, f"no `export const {name}` in the generated TypeScript"
    return m.group(1)


def _parse_generated(source: str):
    """The union, styles, legend and priority of generated TypeScript, read back as Python values.

    The generated literals are single-quoted JSON, which is also Python literal syntax, so a string the
    generator quotes badly (an apostrophe in a label, say) fails to read back here.
    """
    union = re.search(r"^export type TaskState = (.*);$", source, re.M)
    assert union, "no `export type TaskState` in the generated TypeScript"
    names = [ast.literal_eval(part.strip()) for part in union.group(1).split("|")]
    return (
        names,
        ast.literal_eval(_ts_constant(source, "STATE_STYLES")),
        ast.literal_eval(_ts_constant(source, "STATES")),
        ast.literal_eval(_ts_constant(source, "STATE_PRIORITY")),
    )


def _expected_styles():
    return {
        s.value: {
            "label": STYLES[s].label,
            "fill": STYLES[s].fill,
            "stroke": STYLES[s].stroke,
            "description": STYLES[s].meaning,
        }
        for s in ShownState
    }


def test_generated_typescript_says_what_python_says():
    names, styles, legend, priority = _parse_generated(typescript_source())
    assert names == [s.value for s in ShownState]
    assert styles == _expected_styles()
    assert legend == [s.value for s in LEGEND_ORDER]
    assert priority == [s.value for s in GROUP_PRIORITY]


def test_generated_typescript_quotes_any_text(monkeypatch):
    tricky = shown_state.StateStyle('the task\'s "label"', "#ffffff", "#000000", "it's back\\slashed")
    monkeypatch.setitem(STYLES, ShownState.STALE, tricky)
    _, styles, _, _ = _parse_generated(typescript_source())
    assert styles["stale"] == {
        "label": tricky.label,
        "fill": tricky.fill,
        "stroke": tricky.stroke,
        "description": tricky.meaning,
    }


# --------------------------------------------------------- the vocabulary


def test_every_shown_state_has_a_style_a_legend_place_and_a_priority():
    assert set(STYLES) == set(ShownState), "every shown state has one style, and only shown states have one"
    for s in ShownState:
        style = STYLES[s]
        assert style.label.strip() and style.meaning.strip(), s
        assert re.fullmatch(r"#[0-9a-f]{6}", style.fill) and re.fullmatch(r"#[0-9a-f]{6}", style.stroke), s
    assert sorted(LEGEND_ORDER) == sorted(ShownState), "LEGEND_ORDER names every state exactly once"
    assert sorted(GROUP_PRIORITY) == sorted(ShownState), "GROUP_PRIORITY names every state exactly once"
    fills = [STYLES[s].fill for s in ShownState]
    assert len(set(fills)) == len(fills), "each state has its own fill"
    labels = [STYLES[s].label for s in ShownState]
    assert len(set(labels)) == len(labels), "each state has its own label"


def test_events_and_scheduler_states_map_to_shown_states():
    for kind, shown in SHOWN_FOR_EVENT.items():
        assert kind in ALL_KINDS, kind
        assert isinstance(shown, ShownState), (kind, shown)
        assert shown_for_event(kind) is shown
    for state, shown in SHOWN_FOR_SCHEDULER_STATE.items():
        assert state in ALL_STATES, state
        assert isinstance(shown, ShownState), (state, shown)
    unmapped = ALL_STATES - set(SHOWN_FOR_SCHEDULER_STATE)
    assert not unmapped, f"scheduler states without a shown state: {sorted(unmapped)}"
    # A scheduler state is named after the event that enters it: both ways round, the same shown state.
    for state, shown in SHOWN_FOR_SCHEDULER_STATE.items():
        assert SHOWN_FOR_EVENT.get(state) is shown, state
    assert shown_for_event("no-such-kind") is None


# -------------------------------------------- no second vocabulary in the front end


def _strip_comments(ts: str) -> str:
    ts = re.sub(r"/\*.*?\*/", "", ts, flags=re.S)
    return re.sub(r"^\s*//.*$", "", ts, flags=re.M)


def _front_end_sources():
    files = sorted(p for p in (LABEXTENSION / "src").glob("*.ts") if p != GENERATED)
    assert files, "no TypeScript sources found"
    return [(p, _strip_comments(p.read_text(encoding="utf-8"))) for p in files]


STATE_NAMES = {s.value for s in ShownState}
QUOTED = re.compile(r"""(['"])(\w+)\1""")
#: A key of an object literal, quoted or not, e.g. `failed: {` or `'failed': {`.
TABLE_KEY = re.compile(r"""(?:(['"])(\w+)\1|\b(\w+))\s*:\s*\{""")


def _table_keys(src: str) -> set[str]:
    return {m.group(2) or m.group(3) for m in TABLE_KEY.finditer(src)}


def test_front_end_sources_use_no_old_state_names():
    for path, src in _front_end_sources():
        old = sorted({m.group(2) for m in QUOTED.finditer(src)} & set(OLD_STATE_NAMES))
        old += sorted(_table_keys(src) & set(OLD_STATE_NAMES))
        assert not old, f"{path.name} names states the kernel no longer sends: {old}"


def test_front_end_sources_declare_no_state_vocabulary_of_their_own():
    """TaskState, the styles, the legend and the priority come from states.generated.ts only."""
    for path, src in _front_end_sources():
        name = path.name
        # A union type of state names, e.g. `type TaskState = 'running' | 'failed' | ...`.
        for union in re.findall(r"\btype\s+\w+\s*=\s*([^;]*);", src):
            listed = {m.group(2) for m in QUOTED.finditer(union)} & STATE_NAMES
            assert len(listed) < 2, f"{name} declares a union of state names {sorted(listed)}: import TaskState"
        # A table keyed by state names, e.g. `failed: { fill: ... }`.
        keyed = _table_keys(src)
        assert not keyed & STATE_NAMES, f"{name} keys a table by state names {sorted(keyed & STATE_NAMES)}"
        # The whole list of states, in any order.
        listed = {m.group(2) for m in QUOTED.finditer(src)} & STATE_NAMES
        assert listed != STATE_NAMES, f"{name} lists every state itself: use STATES / STATE_PRIORITY"
        assert not re.search(r"\b(STATE_STYLES|STATES|STATE_PRIORITY)\s*(:[^=]*)?=", src), (
            f"{name} defines its own STATE_STYLES / STATES / STATE_PRIORITY"
        )


def test_graph_imports_the_generated_vocabulary():
    graph = (LABEXTENSION / "src" / "graph.ts").read_text(encoding="utf-8")
    m = re.search(r"import\s*\{([^}]*)\}\s*from\s*'\./states\.generated\.js'", graph)
    assert m, "graph.ts does not import from ./states.generated.js"
    imported = {n.strip() for n in m.group(1).split(",")}
    wanted = {"TaskState", "IStateStyle", "STATE_STYLES", "STATES", "STATE_PRIORITY"}
    assert wanted <= imported, f"graph.ts does not import {sorted(wanted - imported)} from states.generated.js"


def test_stylesheet_state_classes_are_shown_states():
    for css in sorted((LABEXTENSION / "style").glob("*.css")):
        used = set(re.findall(r"\.nbpipe-state-(\w+)", css.read_text(encoding="utf-8")))
        assert used <= STATE_NAMES, f"{css.name} styles unknown states {sorted(used - STATE_NAMES)}"
