"""The notebook runner behind `make book`: atomic writes and clear errors."""

import nbformat
import pytest

from mnist_cnn.book.run import coalesce_streams, execute_notebook, main
from mnist_cnn.tools.files import atomic_write_text


def test_atomic_write_text_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "a.ipynb"
    target.write_text("old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.ipynb"]


def test_missing_notebook_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nope.ipynb")])
    assert "nope.ipynb" in capsys.readouterr().err


def test_execute_notebook_stores_outputs_and_kernelspec(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("print(6 * 7)")]
    nb.metadata["jupytext"] = {"formats": "py:percent"}
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    execute_notebook(path, timeout=60)
    done = nbformat.read(path, as_version=4)
    assert done.cells[0].outputs[0]["text"] == "42\n"
    assert done.cells[0].execution_count == 1
    assert done.metadata["kernelspec"]["name"] == "python3"
    assert "jupytext" not in done.metadata


def test_coalesce_streams_merges_only_neighbours_of_one_stream():
    cell = nbformat.v4.new_code_cell("")
    out = nbformat.v4.new_output
    cell.outputs = [
        out("stream", name="stdout", text="a\n"),
        out("stream", name="stdout", text="b\n"),
        out("stream", name="stderr", text="warn\n"),
        out("stream", name="stdout", text="c\n"),
    ]
    coalesce_streams(cell)
    assert [(o.name, o.text) for o in cell.outputs] == [
        ("stdout", "a\nb\n"), ("stderr", "warn\n"), ("stdout", "c\n")
    ]
