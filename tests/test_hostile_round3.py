"""Hostile inputs, round three (issue 25): a new round of cases, run against the final code.

Areas, each a table or a hypothesis property:

* A. every public array function of the reader's package, given junk as its first argument
  (None, a list, a string, integer / float16 / complex / object / 0-d arrays): a
  ``TypeError`` or ``ValueError`` naming the argument, never an error from deep inside;
* B. the momentum update on random memory layouts: in place, bit-equal to the readable form;
* C. the optimiser's state under random faults: all of the step or none of it;
* D. random corruptions of a checkpoint's JSON state and of a weights file: the file's own
  error class, naming the file, or a state that checks out;
* E. the commands (train, evaluate, bench, equations, book, slides) on bad input: one line,
  a non-zero exit, no traceback;
* F. hyper-parameters and configs of the wrong type or value;
* G. silent wrong results found in this round (an integer overflow in the confusion matrix).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mnist_cnn import train as T
from mnist_cnn.architecture import PARAM_NAMES
from mnist_cnn.fast.optim import BlockedSGDMomentum
from mnist_cnn.fast.pool import maxpool_backward_fast, maxpool_forward_fast
from mnist_cnn.fast.step import Workspace
from mnist_cnn.fast.update import momentum_update
from mnist_cnn.reference import im2col as I
from mnist_cnn.reference import layers as L
from mnist_cnn.reference import loops as LP
from mnist_cnn.reference import network as net
from mnist_cnn.reference import transposed as TR
from mnist_cnn.reference.optim import SGDMomentum, learning_rate
from mnist_cnn.train.checkpoint import CHECKPOINT, CheckpointError, load_checkpoint
from mnist_cnn.train.metrics import accuracy, confusion_matrix, evaluate, predict

RNG = np.random.default_rng(0)
X = RNG.random((2, 1, 6, 6))  # a small float64 batch [N, C_in, H, W]
W = RNG.random((3, 1, 3, 3))  # conv weights [C_out, C_in, K, K]
B = RNG.random(3)
Z = RNG.random((2, 3, 4, 4))  # a feature map
M = RNG.random((2, 5))  # a matrix [N, D]
Y = np.full((2, 5), 0.2)  # probabilities
LABELS = np.array([1, 4])
FC_W = RNG.random((4, 5))
PARAMS64 = net.init_params(np.random.default_rng(1), np.float64)
IMAGES64 = RNG.random((2, 1, 28, 28))

# ----------------------------------------------------------------- A. junk at every door

JUNK = {
    "None": None,
    "list": [[1.0, 2.0], [3.0, 4.0]],
    "str": "x",
    "int64 array": np.ones((2, 1, 6, 6), np.int64),
    "float16 array": np.ones((2, 1, 6, 6), np.float16),
    "complex array": np.ones((2, 1, 6, 6), np.complex128),
    "object array": np.array([None, 1.0], dtype=object),
    "0-d array": np.array(1.0),
}

#: Public function -> how to call it with its first argument replaced.
DOORS = {
    "conv_forward": lambda a: L.conv_forward(a, W, B),
    "conv_forward_per_channel": lambda a: L.conv_forward_per_channel(a, W, B),
    "conv_forward_einsum": lambda a: L.conv_forward_einsum(a, W, B),
    "maxpool_forward": lambda a: L.maxpool_forward(a, 2),
    "maxpool_forward_im2col": lambda a: L.maxpool_forward_im2col(a, 2),
    "flatten_forward": lambda a: L.flatten_forward(a),
    "fc_forward": lambda a: L.fc_forward(a, FC_W, B[:1].repeat(4)),
    "relu_forward": lambda a: L.relu_forward(a),
    "softmax": lambda a: L.softmax(a),
    "one_hot": lambda a: L.one_hot(a, 5),
    "cross_entropy": lambda a: L.cross_entropy(a, LABELS),
    "softmax_cross_entropy_backward": lambda a: L.softmax_cross_entropy_backward(a, LABELS),
    "pad": lambda a: I.pad(a, 1),
    "im2col": lambda a: I.im2col(a, 3),
    "im2col_per_channel": lambda a: I.im2col_per_channel(a, 3),
    "col2im": lambda a: I.col2im(a, (2, 1, 6, 6), 3),
    "dilate": lambda a: TR.dilate(a, 2),
    "conv_dx_closed_form": lambda a: TR.conv_dx_closed_form(a, W, (2, 1, 6, 6)),
    "maxpool_forward_fast": lambda a: maxpool_forward_fast(a, 2),
    "maxpool_backward_fast": lambda a: maxpool_backward_fast(
        a, np.zeros((2, 3, 2, 2), np.intp), (2, 3, 4, 4), 2),
    "conv_forward_loops": lambda a: LP.conv_forward_loops(a, W, B),
    "maxpool_forward_loops": lambda a: LP.maxpool_forward_loops(a, 2),
    "softmax_loops": lambda a: LP.softmax_loops(a),
    "forward (x)": lambda a: net.forward(PARAMS64, a),
    "forward (params)": lambda a: net.forward(a, IMAGES64),
    "accuracy": lambda a: accuracy(a, LABELS),
    "predict": lambda a: predict(PARAMS64, a),
    "evaluate": lambda a: evaluate(PARAMS64, a, LABELS),
    "shift_images": lambda a: T.shift_images(a, np.zeros((2, 2), np.int64)),
}

#: Pairs of a door and a junk value the door rightly accepts.
ACCEPTED = {("relu_forward", "0-d array")}  # ReLU is element-wise: a scalar array is valid


@pytest.mark.parametrize("junk", list(JUNK))
@pytest.mark.parametrize("door", list(DOORS))
def test_a_junk_at_a_door_is_refused_there(door, junk):
    if (door, junk) in ACCEPTED:
        DOORS[door](JUNK[junk])
        return
    with pytest.raises((TypeError, ValueError, KeyError)) as info:
        DOORS[door](JUNK[junk])
    message = str(info.value)
    assert "must" in message or "expected" in message or "lacks" in message, message


def test_a_every_door_accepts_its_good_input():
    good = {"conv_forward": X, "conv_forward_per_channel": X, "conv_forward_einsum": X,
            "maxpool_forward": Z, "maxpool_forward_im2col": Z, "flatten_forward": Z,
            "fc_forward": M, "relu_forward": M, "softmax": M, "one_hot": LABELS,
            "cross_entropy": Y, "softmax_cross_entropy_backward": Y, "pad": X, "im2col": X,
            "im2col_per_channel": X, "col2im": np.ones((2, 9, 16)), "dilate": Z,
            "conv_dx_closed_form": np.ones((2, 3, 4, 4)), "maxpool_forward_fast": Z,
            "maxpool_backward_fast": np.ones((2, 3, 2, 2)), "conv_forward_loops": X,
            "maxpool_forward_loops": Z, "softmax_loops": M, "forward (x)": IMAGES64,
            "forward (params)": PARAMS64, "accuracy": Y, "predict": IMAGES64,
            "evaluate": IMAGES64, "shift_images": X}
    assert set(good) == set(DOORS)
    for door, value in good.items():
        DOORS[door](value)  # the table's calls are right: only the junk is refused


# ----------------------------------------------------------------- B. layouts of the update

LAYOUTS = st.sampled_from(["C", "F", "rows of F", "every other column", "transposed view"])


def _layout(a: np.ndarray, kind: str) -> np.ndarray:
    if kind == "C":
        return a.copy()
    if kind == "F":
        return np.asfortranarray(a)
    if kind == "rows of F":
        return np.asfortranarray(np.vstack([a, a]))[a.shape[0]:]
    if kind == "every other column":
        return np.repeat(a, 2, axis=1)[:, ::2]
    return np.ascontiguousarray(a.T).T


@given(w_layout=LAYOUTS, v_layout=LAYOUTS, g_layout=LAYOUTS,
       rows=st.integers(1, 9), cols=st.integers(1, 9), block=st.integers(1, 20),
       decay=st.sampled_from([0.0, 1e-3]), dtype=st.sampled_from([np.float32, np.float64]))
def test_b_momentum_update_is_in_place_and_bit_equal_on_any_layout(
        w_layout, v_layout, g_layout, rows, cols, block, decay, dtype):
    rng = np.random.default_rng(rows * 10 + cols)
    w0 = rng.standard_normal((rows, cols)).astype(dtype)
    v0 = rng.standard_normal((rows, cols)).astype(dtype)
    g0 = rng.standard_normal((rows, cols)).astype(dtype)
    w, v, g = _layout(w0, w_layout), _layout(v0, v_layout), _layout(g0, g_layout)
    ref = {"w": w0.copy()}
    opt = SGDMomentum(ref, 0.9, decay)
    opt.velocity["w"][...] = v0
    opt.step({"dw": g0}, 0.05)
    momentum_update(w, v, g, 0.05, 0.9, decay, np.empty(block, dtype))
    assert np.array_equal(w, ref["w"]) and np.array_equal(v, opt.velocity["w"])
    assert np.array_equal(g, g0)  # the gradient is read, not written


# ----------------------------------------------------------------- C. all or nothing

FAULTS = ["missing gradient", "gradient of another dtype", "gradient of another shape",
          "read-only parameter", "parameter replaced by another shape", "a list as gradient",
          "lr nan", "lr 0", "lr a string", "lr True", "grads not a mapping"]


def _faulty(params, grads, fault, name):
    lr = 0.1
    if fault == "missing gradient":
        del grads["d" + name]
    elif fault == "gradient of another dtype":
        grads["d" + name] = grads["d" + name].astype(np.float32)
    elif fault == "gradient of another shape":
        grads["d" + name] = np.ones(1)
    elif fault == "read-only parameter":
        params[name].flags.writeable = False
    elif fault == "parameter replaced by another shape":
        params[name] = np.ones(7)
    elif fault == "a list as gradient":
        grads["d" + name] = grads["d" + name].tolist()
    elif fault == "grads not a mapping":
        grads = list(grads.values())
    else:
        lr = {"lr nan": float("nan"), "lr 0": 0, "lr a string": "0.1", "lr True": True}[fault]
    return grads, lr


@pytest.mark.parametrize("blocked", [False, True], ids=["SGDMomentum", "BlockedSGDMomentum"])
@pytest.mark.parametrize("fault", FAULTS)
@given(which=st.sampled_from(PARAM_NAMES))
def test_c_a_refused_step_moves_nothing(blocked, fault, which):
    params = {k: np.linspace(-1, 1, 6 + 2 * i).reshape(2, -1) if i % 2 else np.ones(4 + i)
              for i, k in enumerate(PARAM_NAMES)}  # small: the door does not care
    opt = (BlockedSGDMomentum if blocked else SGDMomentum)(params, 0.9, 1e-3)
    grads = {"d" + k: np.full_like(v, 0.5) for k, v in params.items()}
    opt.step(grads, 0.1)  # velocity no longer zero
    saved_w = {k: v.copy() for k, v in params.items()}
    saved_v = {k: v.copy() for k, v in opt.velocity.items()}
    grads, lr = _faulty(params, grads, fault, which)
    with pytest.raises((TypeError, ValueError, KeyError)):
        opt.step(grads, lr)
    for k in PARAM_NAMES:
        assert np.array_equal(opt.velocity[k], saved_v[k]), k
        if params[k].shape == saved_w[k].shape:
            assert np.array_equal(params[k], saved_w[k]), k
    assert opt.steps == 1


# ----------------------------------------------------------------- D. corrupted files


@pytest.fixture(scope="module")
def checkpoint_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt")
    config = T.TrainConfig(epochs=2, batch_size=16, limit=48, split="train_full", seed=3)
    steps = iter(range(1, 100))
    with pytest.raises(T.TrainingInterrupted):
        T.train(config, progress=False, log=lambda _: None,
                checkpoint=lambda state: T.save_checkpoint(out, state),
                stop=lambda: next(steps) >= 1)
    return out


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6)
STATE_KEYS = ["optimizer_steps", "rng_order", "rng_shift", "config", "epoch", "batch", "step",
              "sums", "epochs", "curve", "format"]


@given(key=st.sampled_from(STATE_KEYS), value=JSON_VALUES)
def test_d_a_hand_edited_state_is_refused_by_name_or_checks_out(checkpoint_folder, tmp_path_factory,
                                                                key, value):
    with np.load(checkpoint_folder / CHECKPOINT) as npz:
        arrays = {name: npz[name] for name in npz.files}
    state = json.loads(arrays["state"].tobytes().decode())
    state[key] = value
    arrays["state"] = np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)
    out = tmp_path_factory.mktemp("edited")
    np.savez(out / CHECKPOINT, **arrays)
    try:
        loaded = load_checkpoint(out)
    except CheckpointError as exc:
        assert CHECKPOINT in str(exc)
        return
    assert isinstance(loaded.sums, dict) and isinstance(loaded.epochs, list)


@given(data=st.data())
def test_d_a_corrupted_weights_file_is_a_weights_file_error(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("weights")
    path = folder / "weights.npz"
    T.save_weights(path, {k: v.astype(np.float32) for k, v in PARAMS64.items()})
    raw = bytearray(path.read_bytes())
    how = data.draw(st.sampled_from(["truncate", "flip bytes", "zero a run"]))
    if how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "flip bytes":
        for at in data.draw(st.lists(st.integers(0, len(raw) - 1), min_size=1, max_size=8)):
            raw[at] ^= 0xFF
    else:
        start = data.draw(st.integers(0, len(raw) - 1))
        raw[start : start + 64] = bytes(len(raw[start : start + 64]))
    path.write_bytes(bytes(raw))
    try:
        params = T.load_weights(path)
    except T.WeightsFileError as exc:
        assert str(path) in str(exc)
        return
    assert set(params) == set(PARAM_NAMES)  # a flip inside the data: the arrays still check out


# ----------------------------------------------------------------- E. the commands


def _one_line(code, err):
    assert code != 0, err
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]


TRAIN_ARGS = {
    "epochs 1e9": (["--epochs", "1000000000"], "epochs must be <= 10,000"),
    "batch-size huge": (["--batch-size", "100000"], "batch_size must be <="),
    "lr inf": (["--lr", "inf"], "lr must be a finite number > 0"),
    "momentum -0.1": (["--momentum", "-0.1"], "momentum must be in [0, 1)"),
    "momentum nan": (["--momentum", "nan"], "momentum"),
    "weight-decay inf": (["--weight-decay", "inf"], "weight_decay"),
    "warmup nan": (["--warmup-epochs", "nan"], "warmup_epochs"),
    "warmup -1": (["--warmup-epochs", "-1"], "warmup_epochs"),
    "seed -1": (["--seed", "-1"], "seed must be >= 0"),
    "seed 2^64": (["--seed", str(2**64)], "seed must be <="),
    "limit 0": (["--limit", "0"], "limit must be >= 1"),
    "max-steps 0": (["--max-steps", "0"], "max_steps must be >= 1"),
    "eval-batch-size 0": (["--eval-batch-size", "0"], "eval_batch_size must be >= 1"),
    "threads 10^6": (["--threads", "1000000"], "threads must be <= 1024"),
    "force and resume": (["--force", "--resume"], "exclude each other"),
}


@pytest.mark.parametrize("case", list(TRAIN_ARGS))
def test_e_train_answers_bad_options_in_one_line(tmp_path, run_cli, case):
    argv, fragment = TRAIN_ARGS[case]
    code, out, err = run_cli(*argv, "--out", str(tmp_path / "run"), "--no-progress")
    assert code == 2 and fragment in _one_line(code, err), err


def test_e_resume_of_a_folder_that_holds_a_directory_named_checkpoint(tmp_path, run_cli):
    (tmp_path / CHECKPOINT).mkdir()
    code, _, err = run_cli("--out", str(tmp_path), "--resume", "--no-progress")
    assert code == 2 and CHECKPOINT in _one_line(code, err)


EVALUATE = {
    "missing file": lambda d: [str(d / "nope.npz")],
    "a folder": lambda d: [str(d)],
    "a text file": lambda d: [str(_write(d / "w.npz", b"hello"))],
    "an empty file": lambda d: [str(_write(d / "w.npz", b""))],
    "limit 0": lambda d: [str(d / "w.npz"), "--limit", "0"],
    "batch-size 0": lambda d: [str(d / "w.npz"), "--batch-size", "0"],
    "batch-size 10^6": lambda d: [str(d / "w.npz"), "--batch-size", "1000000"],
}


def _write(path: Path, payload: bytes) -> Path:
    path.write_bytes(payload)
    return path


@pytest.mark.parametrize("case", list(EVALUATE))
def test_e_evaluate_answers_bad_input_in_one_line(tmp_path, run_cli, case):
    code, _, err = run_cli("evaluate", *EVALUATE[case](tmp_path))
    assert code == 2
    _one_line(code, err)


def _run(*argv):
    done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True,
                          timeout=120)
    return done.returncode, done.stderr


@pytest.mark.parametrize("argv", [
    ["mnist_cnn.book.bench", "conv", "--batch", "0"],
    ["mnist_cnn.book.bench", "conv", "--kernel", "40"],
    ["mnist_cnn.book.bench", "train", "--threads", "0"],
    ["mnist_cnn.book.equations", "check", "/no/such/notebook.ipynb"],
    ["mnist_cnn.book", "--timeout", "-5", "README.md"],
    ["mnist_cnn.book", "README.md"],
    ["mnist_cnn.book.slides", "tag", "README.md"],
    ["mnist_cnn.book.mutants", "--workers", "0"],
    ["mnist_cnn.book.data_build", "build", "--wheel", "/no/such.whl"],
], ids=lambda argv: " ".join(argv[:3]))
def test_e_the_book_tools_answer_bad_input_in_one_line(argv):
    code, err = _run(*argv)
    assert code == 2, err
    assert "error" in _one_line(code, err)


# ----------------------------------------------------------------- F. values and types

VALUES = {
    "learning_rate step bool": lambda: learning_rate(True, 10, 0.1),
    "learning_rate total 0": lambda: learning_rate(0, 0, 0.1),
    "learning_rate base str": lambda: learning_rate(0, 10, "0.1"),
    "learning_rate base None": lambda: learning_rate(0, 10, None),
    "learning_rate warmup = total": lambda: learning_rate(0, 10, 0.1, 10),
    "SGDMomentum momentum nan": lambda: SGDMomentum({"w": np.ones(2)}, momentum=float("nan")),
    "SGDMomentum momentum str": lambda: SGDMomentum({"w": np.ones(2)}, momentum="0.9"),
    "SGDMomentum weight_decay None": lambda: SGDMomentum({"w": np.ones(2)}, weight_decay=None),
    "SGDMomentum params a list": lambda: SGDMomentum([np.ones(2)]),
    "SGDMomentum params int": lambda: SGDMomentum({"w": np.ones(2, int)}),
    "import_state steps -1": lambda: SGDMomentum({"w": np.ones(2)}).import_state(
        {"w": np.ones(2)}, -1),
    "import_state nan velocity": lambda: SGDMomentum({"w": np.ones(2)}).import_state(
        {"w": np.array([np.nan, 0.0])}, 0),
    "import_state missing name": lambda: SGDMomentum({"w": np.ones(2)}).import_state({}, 0),
    "momentum_update g of another shape": lambda: momentum_update(
        np.ones(4), np.ones(4), np.ones(3), 0.1, 0.9, 0.0, np.empty(2)),
    "momentum_update read-only w": lambda: momentum_update(
        _read_only(np.ones(4)),
        np.ones(4), np.ones(4), 0.1, 0.9, 0.0, np.empty(2)),
    "momentum_update empty scratch": lambda: momentum_update(
        np.ones(4), np.ones(4), np.ones(4), 0.1, 0.9, 0.0, np.empty(0)),
    "momentum_update lr -1": lambda: momentum_update(
        np.ones(4), np.ones(4), np.ones(4), -1.0, 0.9, 0.0, np.empty(2)),
    "TrainConfig epochs 2.5": lambda: T.TrainConfig(epochs=2.5),
    "TrainConfig batch_size '64'": lambda: T.TrainConfig(batch_size="64"),
    "TrainConfig warmup '1'": lambda: T.TrainConfig(warmup_epochs="1"),
    "TrainConfig split None": lambda: T.TrainConfig(split=None),
    "TrainConfig max_steps True": lambda: T.TrainConfig(max_steps=True),
    "TrainConfig momentum None": lambda: T.TrainConfig(momentum=None),
    "random_shifts n -1": lambda: T.random_shifts(np.random.default_rng(0), -1, 2),
    "random_shifts legacy RandomState": lambda: T.random_shifts(np.random.RandomState(0), 3, 2),
    "shift_images shifts float": lambda: T.shift_images(X, np.zeros((2, 2))),
    "init_params rng None": lambda: net.init_params(None),
    "init_params dtype int": lambda: net.init_params(np.random.default_rng(0), np.int32),
    "init_params dtype garbage": lambda: net.init_params(np.random.default_rng(0), "banana"),
    "confusion_matrix float labels": lambda: confusion_matrix(np.zeros(2), np.zeros(2, int)),
    "confusion_matrix list": lambda: confusion_matrix([0, 1], [0, 1]),
    "confusion_matrix classes 0": lambda: confusion_matrix(np.zeros(2, int), np.zeros(2, int),
                                                          0),
    "accuracy labels out of range": lambda: accuracy(Y, np.array([0, 9])),
    "evaluate labels of another length": lambda: evaluate(PARAMS64, IMAGES64, np.array([1])),
    "predict batch_size 0": lambda: predict(PARAMS64, IMAGES64, 0),
    "maxpool_backward_fast argmax out of range": lambda: maxpool_backward_fast(
        np.ones((2, 3, 2, 2)), np.full((2, 3, 2, 2), 9), (2, 3, 4, 4), 2),
    "maxpool_backward_fast z_shape 3-D": lambda: maxpool_backward_fast(
        np.ones((2, 3, 2, 2)), np.zeros((2, 3, 2, 2), int), (2, 3, 4), 2),
    "dilate stride 0": lambda: TR.dilate(Z, 0),
    "conv_dx_closed_form x_shape of str": lambda: TR.conv_dx_closed_form(Z, W, "abcd"),
    "Workspace chunk 0": lambda: Workspace(4, chunk=0),
}


def _read_only(a):
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("case", list(VALUES))
def test_f_bad_values_and_types_are_refused_by_name(case):
    with pytest.raises((TypeError, ValueError, KeyError)) as info:
        VALUES[case]()
    message = str(info.value)
    assert "must" in message or "lacks" in message or "expected" in message, message


# ----------------------------------------------------------------- G. silent wrong results


def test_g_confusion_matrix_of_uint8_labels_does_not_overflow():
    labels = np.array([19, 18, 0], np.uint8)
    predicted = np.array([19, 17, 0], np.uint8)
    counts = confusion_matrix(labels, predicted, classes=20)
    assert counts[19, 19] == 1 and counts[18, 17] == 1 and counts[0, 0] == 1
    assert counts.sum() == 3


# ----------------------------------------------------------------- H. the allocation cap, further


def _huge(shape, dtype=np.float64):
    return np.broadcast_to(np.zeros((), dtype), shape)


CAP = {
    "shift_images, one shift of 10^6 px": lambda: T.shift_images(
        np.zeros((2, 1, 28, 28)), np.array([[10**6, 0], [0, 0]])),
    "shift_images, 10^8 broadcast images": lambda: T.shift_images(
        _huge((10**8, 1, 28, 28)), _huge((10**8, 2), np.int64)),
    "accuracy, 10^9 broadcast rows": lambda: accuracy(_huge((10**9, 10)),
                                                      np.zeros(10**9, np.int8)),
    "softmax_cross_entropy_backward": lambda: L.softmax_cross_entropy_backward(
        _huge((10**9, 10)), np.zeros(10**9, np.int8)),
    "fc_backward": lambda: L.fc_backward(_huge((10**7, 500)), L.FCCache(
        _huge((10**7, 2880)), np.zeros((500, 2880)))),
    "maxpool_forward": lambda: L.maxpool_forward(_huge((10**5, 20, 24, 24)), 2),
    "maxpool_backward_fast": lambda: maxpool_backward_fast(
        _huge((10**5, 20, 12, 12)), _huge((10**5, 20, 12, 12), np.intp), (10**5, 20, 24, 24)),
    "softmax_loops": lambda: LP.softmax_loops(_huge((10**9, 10))),
    "dilate, stride 10": lambda: TR.dilate(_huge((10**4, 20, 24, 24)), 10),
    "predict, 10^9 broadcast images": lambda: predict(PARAMS64, _huge((10**9, 1, 28, 28))),
    "conv_dx_closed_form, a 10^5-wide input": lambda: TR.conv_dx_closed_form(
        _huge((10**3, 3, 4, 10**5 - 2)), W, (10**3, 1, 6, 10**5)),
    "Workspace float64 of 10^6 images": lambda: Workspace(10**6, np.float64),
}


@pytest.mark.parametrize("case", list(CAP))
def test_h_the_cap_holds_before_anything_is_allocated(case):
    with pytest.raises(ValueError, match=r"would allocate .* GiB .*the limit is 4 GiB"):
        CAP[case]()
