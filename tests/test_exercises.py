"""The exercise checks can fail: the worked answers pass, and a wrong answer to each fails."""

import numpy as np
import pytest

from mnist_cnn.book.exercises import EXERCISES, check, verdict
from mnist_cnn.reference import layers
from mnist_cnn.reference.im2col import im2col, pad

# --- worked answers (the full edition's solutions, written independently of the references)


def fc1_entry(z_flat, w, b, n, h):
    return b[h] + sum(z_flat[n, r] * w[h, r] for r in range(z_flat.shape[1]))


def to_ijc(X_col, C_in, K):
    return X_col.reshape(C_in, K, K, -1).transpose(1, 2, 0, 3).reshape(C_in * K * K, -1)


def conv1x1(x, w):
    N, C_in, H, W = x.shape
    pixels = x.transpose(0, 2, 3, 1).reshape(-1, C_in)
    return (pixels @ w.T).reshape(N, H, W, -1).transpose(0, 3, 1, 2)


def dw_stride2(x, delta, K):
    from scipy.signal import correlate

    N, C_out, H_c, W_c = delta.shape
    dilated = np.zeros((N, C_out, 2 * H_c - 1, 2 * W_c - 1))
    dilated[:, :, ::2, ::2] = delta
    return np.array([[sum(correlate(x[n, c], dilated[n, o], mode="valid")[:K, :K]
                          for n in range(N)) for c in range(x.shape[1])] for o in range(C_out)])


def dx_padding1(delta, w):
    from scipy.signal import correlate

    full = np.array([[sum(correlate(delta[n, o], w[o, c, ::-1, ::-1], mode="full")
                          for o in range(w.shape[0])) for c in range(w.shape[1])]
                     for n in range(delta.shape[0])])
    return full[:, :, 1:-1, 1:-1]


def summed_loss(y, labels):
    return -np.sum(np.log(y[np.arange(len(labels)), labels]))


def mean_loss(y, labels):
    return summed_loss(y, labels) / len(labels)


WORKED = {
    "0.1": ((64, 20, 28, 28), (64, 20, 14, 14), 20 * 14 * 14 * 500 + 500),
    "0.2": (12, True),
    "0.3": (20 * (3 * 25 + 1), 20 * 14 * 14),
    "1.1": (28, 14, 3920, ["fc1"]),
    "1.2": (12, [28]),
    "1.3": ((20, 3, 5, 5), (64, 20, 28, 28), (64, 3920), 1520),
    "1.4": (64 * 20 * 24 * 24 * 25, 64 * 500 * 2880),
    "2.1": ((25, 196), (20, 25), (20, 196)),
    "2.2": np.outer(*[np.minimum.reduce([np.arange(1, 29), np.full(28, 5),
                                        np.arange(28, 0, -1)])] * 2),
    "2.3": (12, 1),
    "2.4": fc1_entry,
    "3.1": ((75, 784), (6, 75), (6, 784)),
    "3.2": to_ijc,
    "3.3": ((500, 4096), (50, 4096)),
    "3.4": conv1x1,
    "4.1": dw_stride2,
    "4.2": dx_padding1,
    "4.3": ((1, 2), {"dx"}),
    "4.4": summed_loss,
    "5.1": lambda eta, mu: eta / (1 - mu),
    "5.2": lambda g, w, lam: g + lam * w,
    "5.3": (11.3, 0.23),
    "5.4": lambda T, eta0: eta0 / 2 * (1 + 1 / T),
    "6.1": lambda p, i: 2 * (p - 1) + i,
    "6.2": lambda delta_fc2, w_fc2: delta_fc2 @ w_fc2,
    "6.3": lambda y, t: (y - t).sum(axis=0) / len(y),
    "6.4": lambda z_flat, delta_fc1: delta_fc1.T @ z_flat,
    "6.5": [0.25, 1.0],
    "7.1": ["finite differences", "loops"],
    "7.2": (6, 8),
}

# --- typical wrong answers: the mistakes the chapters warn about
WRONG = {
    "0.1": [((64, 20, 24, 24), (64, 20, 12, 12), 1_440_500), ((64, 20, 28, 28), (64, 20, 14, 14))],
    "0.2": [(12, False), (11.5, True)],
    "0.3": [(1500, 3920), (1520, 11760)],
    "1.1": [(28, 14, 3920, ["conv", "fc1"]), (24, 12, 2880, ["fc1"])],
    "1.2": [(12, [27, 28]), (11, [28])],
    "1.3": [((20, 1, 5, 5), (64, 20, 28, 28), (64, 3920), 1520),
            ((20, 3, 5, 5), (64, 60, 28, 28), (64, 3920), 1520)],
    "1.4": [(520 * 64, 1_440_500 * 64), (18_432_000, 1_440_500)],
    "2.1": [((25, 576), (20, 25), (20, 576)), ((25, 196), (1, 25), (1, 196))],
    "2.2": [np.full((28, 28), 25), np.full((28, 28), 14400 / 784)],
    "2.3": [(12.5, 0), (12, 0)],
    "2.4": [lambda z, w, b, n, h: sum(z[n, r] * w[h, r] for r in range(z.shape[1])),
            lambda z, w, b, n, h: (z @ w.T)[n, h]],
    "3.1": [((25, 784), (6, 25), (6, 784)), ((75, 784), (6, 75), (6, 576))],
    "3.2": [lambda X, C, K: X, lambda X, C, K: X.reshape(C, K, K, -1).transpose(2, 1, 0, 3)
            .reshape(C * K * K, -1)],
    "3.3": [((500, 64), (50, 64)), ((25, 4096), (50, 4096))],
    "3.4": [lambda x, w: np.einsum("oc,nchw->nohw", w.T.reshape(w.shape), x) * 0,
            lambda x, w: (x.reshape(x.shape[0], -1)[:, : w.shape[1]] @ w.T)],
    "4.1": [lambda x, d, K: dw_stride2(x, d, K) * 2,
            lambda x, d, K: np.zeros((d.shape[1], x.shape[1], K, K))],
    "4.2": [lambda d, w: dx_padding1(d, w[:, :, ::-1, ::-1]),
            lambda d, w: np.pad(dx_padding1(d, w), ((0, 0), (0, 0), (1, 1), (1, 1)))],
    "4.3": [((1, 2), {"dx", "dw_conv"}), ((2, 1), {"dx"})],
    "4.4": [mean_loss, lambda y, labels: np.sum(y ** 2)],
    "5.1": [lambda eta, mu: eta, lambda eta, mu: eta * (1 - mu)],
    "5.2": [lambda g, w, lam: g, lambda g, w, lam: g + lam / 2 * w],
    "5.3": [(1.0, 0.23), (11.3, 2.3)],
    "5.4": [lambda T, eta0: eta0 / 2, lambda T, eta0: eta0 / 2 * (1 - 1 / T)],
    "6.1": [lambda p, i: 2 * p + i, lambda p, i: p + i],
    "6.2": [lambda d, w: d @ np.eye(*w.shape), lambda d, w: (w @ d.T).T[:, :0]],
    "6.3": [lambda y, t: (y - t).sum(axis=0), lambda y, t: (y - t).mean(axis=1)],
    "6.4": [lambda z, d: z.T @ d, lambda z, d: d.T @ z / len(z)],
    "6.5": [[1.0], [-1.0, 0.25, 1.0]],
    "7.1": [["loops"], ["finite differences", "loops", "scipy"]],
    "7.2": [(8, 6), (14, 0)],
}


def test_every_exercise_has_a_worked_and_a_wrong_answer():
    assert set(WORKED) == set(EXERCISES) == set(WRONG)


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_worked_answer_passes(exercise, capsys):
    assert check(exercise, WORKED[exercise])
    assert capsys.readouterr().out == f"Exercise {exercise}: PASS\n"


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_wrong_answers_fail(exercise, capsys):
    for wrong in WRONG[exercise]:
        assert not check(exercise, wrong), wrong
        assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_placeholder_fails_and_reason_hides_the_reference(exercise):
    assert verdict(exercise, ...) == "no answer yet: replace the ... with yours"
    entry = EXERCISES[exercise]
    if entry.reference is not None:
        reference = entry.reference()
        for wrong in WRONG[exercise]:
            reason = verdict(exercise, wrong)
            for value in np.ravel(np.array(reference, dtype=object)):
                if isinstance(value, int | float) and abs(value) > 2:
                    assert str(value) not in reason


def test_unknown_exercise_is_named():
    with pytest.raises(KeyError, match="9.9"):
        check("9.9", 1)


def test_worked_helpers_agree_with_the_layers():
    # the worked answers above are independent code; make sure they mean what they say
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(1, 2, 5, 5)), rng.normal(size=(3, 2, 1, 1))
    z, _ = layers.conv_forward(x, w, np.zeros(3))
    assert np.allclose(conv1x1(x, w[:, :, 0, 0]), z)
    assert im2col(pad(x, 1), 3).shape == (1, 18, 25)
