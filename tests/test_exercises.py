"""The exercise checks can fail: the worked answers pass, and the classic wrong answers fail.

Every exercise has at least three classic wrong answers here (the mistakes the chapters warn
about: a missing crop, flip or dilation, 0- against 1-based, sum against mean, a transpose, a
forgotten bias or floor), each of which must FAIL; the messages must say for every wrong entry
whether its form or its value is wrong, and never show the reference.
"""

import re

import numpy as np
import pytest
from scipy.signal import correlate

from mnist_cnn.book import answers, exercises
from mnist_cnn.book.exercises import EXERCISES, NO_ANSWER, check, problems, verdict

# --- worked answers (the full edition's solutions, written independently of the references)


def fc1_entry(z_flat, w, b, n, h):
    return b[h] + sum(z_flat[n, r] * w[h, r] for r in range(z_flat.shape[1]))


def to_ijc(X_col, C_in, K):
    return X_col.reshape(C_in, K, K, -1).transpose(1, 2, 0, 3).reshape(C_in * K * K, -1)


def conv1x1(x, w):
    N, C_in, H, W = x.shape
    pixels = x.transpose(0, 2, 3, 1).reshape(-1, C_in)
    return (pixels @ w.T).reshape(N, H, W, -1).transpose(0, 3, 1, 2)


def dilate(delta, S=2):
    N, C_out, H_c, W_c = delta.shape
    dilated = np.zeros((N, C_out, S * (H_c - 1) + 1, S * (W_c - 1) + 1))
    dilated[:, :, ::S, ::S] = delta
    return dilated


def dw_general(x, delta, K, S=2, crop=True, flip=False, reduce=sum, end=False):
    """The worked dw_stride2 with switches for the classic mistakes."""
    d = dilate(delta, S) if S else delta
    if flip:
        d = d[:, :, ::-1, ::-1]
    N, C_out = delta.shape[:2]

    def one(n, c, o):
        full = correlate(x[n, c], d[n, o], mode="valid")
        if not crop:
            return full
        return full[-K:, -K:] if end else full[:K, :K]
    return np.array([[reduce([one(n, c, o) for n in range(N)]) for c in range(x.shape[1])]
                     for o in range(C_out)])


def dw_stride2(x, delta, K):
    return dw_general(x, delta, K)


def dx_general(delta, w, flip=True, crop=1, only_first_filter=False):
    k = w[:, :, ::-1, ::-1] if flip else w
    filters = range(1 if only_first_filter else w.shape[0])
    full = np.array([[sum(correlate(delta[n, o], k[o, c], mode="full") for o in filters)
                      for c in range(w.shape[1])] for n in range(delta.shape[0])])
    if crop == "end":
        return full[:, :, 2:, 2:]
    return full[:, :, crop:full.shape[2] - crop, crop:full.shape[3] - crop] if crop else full


def dx_padding1(delta, w):
    return dx_general(delta, w)


def summed_loss(y, labels):
    return -np.sum(np.log(y[np.arange(len(labels)), labels]))


PER_AXIS = np.minimum.reduce([np.arange(1, 29), np.full(28, 5), np.arange(28, 0, -1)])

WORKED = {
    "0.1": ((64, 20, 28, 28), (64, 20, 14, 14), 20 * 14 * 14 * 500 + 500),
    "0.2": (12, True),
    "0.3": (20 * (3 * 25 + 1), 20 * 14 * 14),
    "1.1": (28, 14, 3920, (500, 3920), ["fc1"]),
    "1.2": (12, [28]),
    "1.3": ((64, 3, 32, 32), (20, 3, 5, 5), (64, 20, 28, 28), (64, 20, 14, 14), (64, 3920),
            1520, "c"),
    "1.4": (64 * 20 * 24 * 24 * 25, 64 * 500 * 2880, "fc1", "fc1"),
    "2.1": ((25, 196), (20, 25), (20, 196)),
    "2.2": np.outer(PER_AXIS, PER_AXIS),
    "2.3": (12, 1, False),
    "2.4": fc1_entry,
    "3.1": ((75, 784), (6, 75), (6, 784)),
    "3.2": to_ijc,
    "3.3": ((500, 4096), (50, 4096)),
    "3.4": conv1x1,
    "4.1": dw_stride2,
    "4.2": dx_padding1,
    "4.3": ((1, 2), (0, 1), {"dx"}),
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

# --- classic wrong answers: (what the mistake is, the answer); every one must FAIL
WRONG = {
    "0.1": [("P = 0 (the seed)", ((64, 20, 24, 24), (64, 20, 12, 12), 1_440_500)),
            ("fc1 bias forgotten", ((64, 20, 28, 28), (64, 20, 14, 14), 1_960_000)),
            ("padding added once, not on both sides", ((64, 20, 26, 26), (64, 20, 13, 13),
                                                       1_690_500)),
            ("shapes without the batch axis", ((20, 28, 28), (20, 14, 14), 1_960_500))],
    "0.2": [("no floor", (11.5, True)), ("no +1", (11, True)), ("tiling misjudged", (12, False)),
            ("ceil instead of floor", (13, True))],
    "0.3": [("conv bias forgotten", (1500, 3920)), ("C_in = 1 kept", (520, 3920)),
            ("flattened per input channel", (1520, 11760)), ("seed D_0", (1520, 2880))],
    "1.1": [("the seed's sizes", (24, 12, 2880, (500, 2880), ["fc1"])),
            ("conv count changes too", (28, 14, 3920, (500, 3920), ["conv", "fc1"])),
            ("w_fc1 transposed", (28, 14, 3920, (3920, 500), ["fc1"])),
            ("padding once", (26, 13, 3380, (500, 3380), ["fc1"])),
            ("name in capitals", (28, 14, 3920, (500, 3920), ["FC1"]))],
    "1.2": [("a number, not a list", (12, 28)), ("0-based row", (12, [27])),
            ("no floor's +1", (11, [28])), ("one row too many", (12, [27, 28])),
            ("every row read", (12, []))],
    "1.3": [("C_in = 1 kept in w", ((64, 3, 32, 32), (20, 1, 5, 5), (64, 20, 28, 28),
                                     (64, 20, 14, 14), (64, 3920), 1520, "c")),
            ("one map per channel and filter", ((64, 3, 32, 32), (20, 3, 5, 5), (64, 60, 28, 28),
                                                (64, 60, 14, 14), (64, 11760), 1520, "c")),
            ("conv bias forgotten", ((64, 3, 32, 32), (20, 3, 5, 5), (64, 20, 28, 28),
                                     (64, 20, 14, 14), (64, 3920), 1500, "c")),
            ("the old form: three shapes and a count", ((20, 3, 5, 5), (64, 20, 28, 28),
                                                        (64, 3920), 1520)),
            ("index o instead of c", ((64, 3, 32, 32), (20, 3, 5, 5), (64, 20, 28, 28),
                                      (64, 20, 14, 14), (64, 3920), 1520, "o"))],
    "1.4": [("parameters times the batch", (520 * 64, 1_440_500 * 64, "fc1", "fc1")),
            ("one image, not the batch", (288_000, 1_440_000, "fc1", "fc1")),
            ("28 x 28 positions", (64 * 20 * 28 * 28 * 25, 64 * 500 * 2880, "fc1", "fc1")),
            ("more parameters means more work misjudged", (18_432_000, 92_160_000, "fc1",
                                                           "conv"))],
    "2.1": [("S = 1 kept", ((25, 576), (20, 25), (20, 576))),
            ("padding ignored", ((25, 144), (20, 25), (20, 144))),
            ("X_c transposed", ((196, 25), (20, 25), (196, 20))),
            ("F_c as a 4-d tensor", ((25, 196), (20, 1, 5, 5), (20, 196)))],
    "2.2": [("every pixel copied 25 times", np.full((28, 28), 25)),
            ("the mean copy count", np.full((28, 28), 18)),
            ("border counts added, not multiplied", PER_AXIS[:, None] + PER_AXIS[None, :]),
            ("window range off by one", np.outer(np.minimum.reduce([np.arange(0, 28),
                                                                     np.full(28, 5),
                                                                     np.arange(27, -1, -1)]),
                                                 np.minimum.reduce([np.arange(0, 28),
                                                                    np.full(28, 5),
                                                                    np.arange(27, -1, -1)])))],
    "2.3": [("no floor", (12.5, 0, False)), ("nothing to crop", (12, 0, False)),
            ("im2col needs it too", (12, 1, True)), ("ceil, padded", (13, 0, False))],
    "2.4": [("bias forgotten", lambda z, w, b, n, h: sum(z[n, r] * w[h, r]
                                                       for r in range(z.shape[1]))),
            ("vectorised, not an explicit sum", lambda z, w, b, n, h: (z @ w.T)[n, h] + b[h]),
            ("mean instead of sum", lambda z, w, b, n, h: b[h] + sum(
                z[n, r] * w[h, r] for r in range(z.shape[1])) / z.shape[1]),
            ("w indexed [r, h]", lambda z, w, b, n, h: b[h] + sum(z[n, r] * w[r, h]
                                                                for r in range(z.shape[1]))),
            ("1-based r", lambda z, w, b, n, h: b[h] + sum(z[n, r] * w[h, r]
                                                         for r in range(1, z.shape[1] + 1)))],
    "3.1": [("per-channel im2col", ((25, 784), (6, 25), (6, 784))),
            ("H_c from 28 x 28", ((75, 576), (6, 75), (6, 576))),
            ("X_col transposed", ((784, 75), (6, 75), (784, 6))),
            ("W_mat as a 4-d tensor", ((75, 784), (6, 3, 5, 5), (6, 784)))],
    "3.2": [("rows left as they are", lambda X, C, K: X),
            ("(j, i, c) order", lambda X, C, K: X.reshape(C, K, K, -1).transpose(2, 1, 0, 3)
             .reshape(C * K * K, -1)),
            ("reshaped without a transpose", lambda X, C, K: X.reshape(K, K, C, -1)
             .reshape(C * K * K, -1) * 1.0 + 0 * X[::-1]),
            ("columns permuted instead of rows", lambda X, C, K: X[:, ::-1])],
    "3.3": [("one column per image", ((500, 64), (50, 64))),
            ("per-channel rows", ((25, 4096), (50, 4096))),
            ("conv 2 on 12 x 12 positions", ((500, 9216), (50, 9216))),
            ("transposed", ((4096, 500), (4096, 50)))],
    "3.4": [("w transposed", lambda x, w: np.einsum("co,nchw->nohw", w.reshape(w.shape[::-1]),
                                                    x)),
            ("reshape without moving channels last", lambda x, w: (
                x.reshape(-1, x.shape[1]) @ w.T).reshape(x.shape[0], -1, *x.shape[2:])),
            ("H and W swapped back", lambda x, w: np.einsum("oc,nchw->nowh", w, x)),
            ("channels summed before the product", lambda x, w: np.einsum(
                "oc,nhw->nohw", w, x.sum(axis=1)))],
    "4.1": [("missing crop to K x K", lambda x, d, K: dw_general(x, d, K, crop=False)),
            ("missing dilation", lambda x, d, K: dw_general(x, d, K, S=0)),
            ("flipped delta (a convolution)", lambda x, d, K: dw_general(x, d, K, flip=True)),
            ("mean over the batch instead of sum", lambda x, d, K: dw_general(
                x, d, K, reduce=lambda a: np.mean(a, axis=0))),
            ("cropped at the wrong end", lambda x, d, K: dw_general(x, d, K, end=True)),
            ("dilated by S zeros instead of S - 1", lambda x, d, K: dw_general(x, d, K, S=3))],
    "4.2": [("missing flip", lambda d, w: dx_general(d, w, flip=False)),
            ("missing crop", lambda d, w: dx_general(d, w, crop=0)),
            ("cropped at the wrong end", lambda d, w: dx_general(d, w, crop="end")),
            ("sum over filters missing", lambda d, w: dx_general(d, w, only_first_filter=True))],
    "4.3": [("0-based position", ((0, 1), (0, 1), {"dx"})),
            ("last maximum", ((2, 1), (0, 1), {"dx"})),
            ("weights change too", ((1, 2), (0, 1), {"dx", "dw_conv"})),
            ("derivative shared out, 1/2", ((1, 2), (0.5, 0.5), {"dx"})),
            ("nothing changes", ((1, 2), (0, 1), set()))],
    "4.4": [("mean instead of sum", lambda y, labels: summed_loss(y, labels) / len(labels)),
            ("squared error", lambda y, labels: np.sum((y - np.eye(y.shape[1])[labels]) ** 2) / 2),
            ("log forgotten", lambda y, labels: -np.sum(y[np.arange(len(labels)), labels])),
            ("sign flipped", lambda y, labels: np.sum(np.log(y[np.arange(len(labels)), labels])))],
    "5.1": [("eta itself", lambda eta, mu: eta), ("eta (1 - mu)", lambda eta, mu: eta * (1 - mu)),
            ("eta / (1 + mu)", lambda eta, mu: eta / (1 + mu)),
            ("eta mu / (1 - mu)", lambda eta, mu: eta * mu / (1 - mu))],
    "5.2": [("penalty forgotten", lambda g, w, lam: g),
            ("lam / 2 kept", lambda g, w, lam: g + lam / 2 * w),
            ("sign flipped", lambda g, w, lam: g - lam * w),
            ("w forgotten", lambda g, w, lam: g + lam)],
    "5.3": [("swapped", (0.23, 11.3)), ("fractions, not percent", (0.113, 0.0023)),
            ("ink as % of digits", (11.3, 2.3)), ("all digits lose ink", (100.0, 0.23))],
    "5.4": [("eta_0 / 2", lambda T, eta0: eta0 / 2),
            ("1 - 1/T", lambda T, eta0: eta0 / 2 * (1 - 1 / T)),
            ("no decay", lambda T, eta0: eta0),
            ("T - 1 steps", lambda T, eta0: eta0 / 2 * (1 + 1 / max(T - 1, 1)))],
    "6.1": [("2p + i", lambda p, i: 2 * p + i), ("p + i", lambda p, i: p + i),
            ("0-based row", lambda p, i: 2 * (p - 1) + i - 1),
            ("stride 1", lambda p, i: (p - 1) + i)],
    "6.2": [("the sample's transpose", lambda d, w: d @ w.T),
            ("transposed result", lambda d, w: w.T @ d.T),
            ("mean over the batch", lambda d, w: d @ w / len(d)),
            ("only the diagonal of w", lambda d, w: d @ np.eye(*w.shape))],
    "6.3": [("the homework's sum, no 1/N", lambda y, t: (y - t).sum(axis=0)),
            ("mean over classes", lambda y, t: (y - t).mean(axis=1)),
            ("sign flipped", lambda y, t: (t - y).sum(axis=0) / len(y)),
            ("a single number", lambda y, t: float((y - t).sum() / len(y)))],
    "6.4": [("the sample's order", lambda z, d: z.T @ d),
            ("divided by N again", lambda z, d: d.T @ z / len(z)),
            ("transposed in the end", lambda z, d: (d.T @ z).T),
            ("sign flipped", lambda z, d: -(d.T @ z))],
    "6.5": [("the root already given", [1.0]), ("a negative root too", [-1.0, 0.25, 1.0]),
            ("one root only", [0.25]), ("a number, not a list", 0.25)],
    "7.1": [("one referee", ["loops"]), ("one too many", ["finite differences", "loops", "scipy"]),
            ("not a list", "loops"), ("misspelt", ["finite-differences", "loops"])],
    "7.2": [("swapped", (8, 6)), ("all independent", (14, 0)), ("one kind only", (6, 0)),
            ("a total, not a pair", 14)],
}


def test_every_exercise_has_a_worked_and_three_wrong_answers():
    assert set(WORKED) == set(EXERCISES) == set(WRONG)
    assert min(len(v) for v in WRONG.values()) >= 3


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_worked_answer_passes(exercise, capsys):
    assert check(exercise, WORKED[exercise])
    assert capsys.readouterr().out == f"Exercise {exercise}: PASS\n"


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_classic_wrong_answers_fail(exercise, capsys):
    for mistake, wrong in WRONG[exercise]:
        found = problems(exercise, wrong)
        assert found, f"{exercise}: the classic mistake '{mistake}' passes"
        assert all("wrong form" in p or "wrong value" in p or "raised" in p for p in found), found
        assert not check(exercise, wrong)
        assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_placeholder_fails_and_reason_hides_the_reference(exercise):
    assert problems(exercise, ...) == [NO_ANSWER]
    if exercise in answers.REFERENCES:
        reference = answers.REFERENCES[exercise]()
        shown = {str(v) for v in np.ravel(np.array(reference, dtype=object)) if
                 isinstance(v, int | float | tuple | str) and len(str(v)) > 2}
        for _, wrong in WRONG[exercise]:
            reason = verdict(exercise, wrong)
            # the student's own answer may be echoed ("got int 28"), the reference never
            leaked = [text for text in shown if text in reason and text not in str(wrong)]
            assert not leaked, (reason, leaked)


def test_form_and_value_are_told_apart_and_every_wrong_entry_is_reported():
    # the case: the value 28 is right, only the form (a list) is wrong
    form_only = problems("1.2", (12, 28))
    assert form_only == ["entry 2 of 2 (rows no window reads): wrong form: expected a list of "
                         "1-based indices such as [1, 2], got int 28"]
    both = problems("1.1", (24, 12, 2880, (3920, 500), ["FC1"]))
    assert [p.split(":")[0] for p in both] == [
        "entry 1 of 5 (H_c)", "entry 2 of 5 (H_p)", "entry 3 of 5 (D_0)",
        "entry 4 of 5 (shape of w_fc1)", "entry 5 of 5 (layers whose parameter count changes)"]
    assert "right form, wrong value" in both[0] and "wrong form" in both[4]
    assert problems("1.3", ((20, 3, 5, 5), (64, 20, 28, 28), (64, 3920), 1520))[0].startswith(
        "wrong form: expected a tuple of 7 entries")
    # a function answer: every failing case is listed, with form (shape) or value
    no_crop = problems("4.1", WRONG["4.1"][0][1])
    assert no_crop[0].startswith("seed case") and "wrong form" in no_crop[0]


def test_no_stray_false_line_and_grammar(capsys):
    result = check("1.2", (12, [27]))
    assert not result and result._ipython_display_() is None
    out = capsys.readouterr().out
    assert "the entries has" not in out and "False" not in out


def test_explicit_sum_is_required():
    vectorised = dict(WRONG["2.4"])["vectorised, not an explicit sum"]
    assert any("explicit sum" in p for p in problems("2.4", vectorised))


def test_the_key_is_current_and_holds_no_readable_answer():
    assert answers.main(["check"]) == 0
    key = exercises.load_key()
    assert set(key) == {"salt", "digests"} and re.fullmatch("[0-9a-f]{32}", key["salt"])
    for digests in key["digests"].values():
        assert all(re.fullmatch("[0-9a-f]{24}", d) for d in digests)


def test_unknown_exercise_is_named():
    with pytest.raises(KeyError, match="9.9"):
        check("9.9", 1)
