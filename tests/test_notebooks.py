"""The notebooks in ``notebooks/``: each committed .ipynb runs top to bottom without error, and
is committed with its outputs (so that figures show when the repository is browsed).

The tests read the committed notebooks; they never run ``notebooks/make_notebooks.py``. Each
notebook is executed as an in-memory copy, so the committed files are never modified.
"""
from __future__ import annotations

import base64
import copy
import importlib.util
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds per cell
MAX_PNG_BYTES = 150_000


def _ids(paths):
    return [p.name for p in paths]


def _read(path):
    return nbformat.read(path, as_version=4)


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_executes(path):
    before = path.read_bytes()
    nb = copy.deepcopy(_read(path))
    for cell in _code_cells(nb):  # run from a clean slate, not on top of the saved outputs
        cell.outputs = []
        cell.execution_count = None
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{exc}")
    errors = [o for c in _code_cells(nb) for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name}: error outputs {errors}"
    assert all(c.execution_count is not None for c in _code_cells(nb))
    assert path.read_bytes() == before, f"executing {path.name} modified the committed file"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_saved_with_outputs(path):
    """Committed with every code cell executed, in order, without errors or warnings, with
    small figures."""
    nb = _read(path)
    nbformat.validate(nb)
    cells = _code_cells(nb)
    assert cells, f"{path.name} has no code cells"
    counts = [c.execution_count for c in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name} is not saved executed top to bottom (execution counts {counts}); "
        "run notebooks/make_notebooks.py")
    assert any(c.outputs for c in cells), f"{path.name} is saved without outputs"
    for i, c in enumerate(cells):
        pngs = []
        for o in c.outputs:
            assert o.output_type != "error", f"{path.name}, code cell {i}: saved with an error"
            assert o.get("name") != "stderr", f"{path.name}, code cell {i}: saved with stderr output {o.text!r}"
            if "image/png" in o.get("data", {}):
                pngs.append(len(base64.b64decode(o.data["image/png"])))
        if "plt.subplots(" in c.source or "plt.figure(" in c.source:
            assert pngs, f"{path.name}, code cell {i} makes a figure but no image is saved"
        for size in pngs:
            assert size < MAX_PNG_BYTES, f"{path.name}, code cell {i}: PNG of {size} bytes"


def _generator():
    spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOK_DIR / "make_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # defines the cells; executes nothing (main() is guarded)
    return mod


def test_notebooks_match_generator():
    """Every committed notebook is built by make_notebooks.py and its cells are those the script
    defines now (so an edit to the script was followed by regenerating the notebook)."""
    gen = _generator()
    assert sorted(gen.NOTEBOOKS) == [p.name for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        built = gen.build(path.name)
        saved = _read(path)
        assert [(c.cell_type, c.source) for c in saved.cells] == [(c.cell_type, c.source) for c in built.cells], (
            f"{path.name} differs from the cells in make_notebooks.py: run notebooks/make_notebooks.py")
