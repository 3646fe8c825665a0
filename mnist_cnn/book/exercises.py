"""Checks for the chapters' exercises: ``check("1.2", answer)`` prints PASS or FAIL.

What this is: one table, ``EXERCISES``, with an entry per exercise of the book. An entry says
what form the answer takes (the student edition's answer cell shows it) and how it is checked,
in a way that reveals no answer, so that this module can be handed to students:

* **Value answers** (sizes, shapes, rows, names, percentages) are checked against salted
  SHA-256 digests of a canonical form of each entry (``exercise_key.json``, written by the
  maintainers' :mod:`mnist_cnn.book.answers`, which computes every reference with the
  package's own functions). A digest of a small number can be found by trying numbers, but
  no more easily than by calling ``check`` in a loop: the key says nothing the PASS/FAIL
  oracle does not, and nothing in the handed-out files shows an answer in readable form.
* **Function answers** are checked against properties that do not need the reference
  implementation of the answer: the gradient of a function that is linear in the parameter
  is its value on unit inputs (finite differences, exact here), the forward pass of the
  layer (not its backward), the loop versions, simulation of the optimiser, and small cases
  computed by hand. Each is checked on the seed case and on cases where the classic wrong
  answers differ (a missing crop, flip or dilation; 0- against 1-based; sum against mean).

The verdict reports every wrong entry, and says for each whether its *form* (type, length,
shape, a name that is not one of the allowed strings) or its *value* is wrong.
What this is not: the worked solutions (in the full edition of each chapter) or the answer key
in readable form (:mod:`mnist_cnn.book.answers`, which is not handed out).

Usage in a notebook::

    from mnist_cnn.book import exercises
    exercises.check("1.2", (10, [1, 2]))   # prints "Exercise 1.2: FAIL" and what is wrong
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np

KEY_FILE = "exercise_key.json"
NO_ANSWER = "no answer yet: replace the ... with yours"
LAYER_NAMES = ("conv", "pool", "reshape", "fc1", "relu", "fc2", "softmax")


class FormError(ValueError):
    """The answer (or one entry of it) does not have the form the exercise asks for."""


def _kind(value) -> str:
    """A short description of a value's type, for form messages (never of the reference)."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, tuple | list | set | frozenset):
        return f"a {type(value).__name__} of {len(value)} entries"
    return f"{type(value).__name__} {value!r}"[:80]


# ---------------------------------------------------------------- forms of value entries


@dataclass(frozen=True)
class Form:
    """The form of one entry of a value answer.

    Attributes
    ----------
    name : str
        What the entry is, as the statement names it (``"H_c"``, ``"shape of z_conv"``).
    """

    name: str

    def canonical(self, value) -> str:
        """The canonical text of ``value``; raises FormError if ``value`` has the wrong form."""
        raise NotImplementedError

    def parts(self, value) -> dict[str, str]:
        """Canonical texts of the parts of an entry, for reporting which parts are wrong."""
        return {}

    def describe_parts(self, wrong: list[str], value) -> str:
        return "wrong value"


def _whole(value, what: str) -> int:
    if isinstance(value, bool | np.bool_):
        raise FormError(f"expected {what}, got the bool {value}")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer():
        return int(value)
    if isinstance(value, float | np.floating):
        raise FormError(f"expected {what}, got the fraction {float(value)!r}")
    raise FormError(f"expected {what}, got {_kind(value)}")


@dataclass(frozen=True)
class Int(Form):
    """A whole number (``12``, ``12.0`` and ``np.int64(12)`` are the same answer)."""

    def canonical(self, value) -> str:
        return str(_whole(value, "a whole number"))


@dataclass(frozen=True)
class Bool(Form):
    """``True`` or ``False``."""

    def canonical(self, value) -> str:
        if not isinstance(value, bool | np.bool_):
            raise FormError(f"expected True or False, got {_kind(value)}")
        return str(bool(value))


@dataclass(frozen=True)
class Ints(Form):
    """A tuple of ``length`` whole numbers: a shape, a (row, column) position, a pair."""

    length: int = 2
    low: int | None = None  # smallest allowed entry (1 for 1-based positions)

    def canonical(self, value) -> str:
        if isinstance(value, np.ndarray) and value.ndim == 1:
            value = value.tolist()
        if not isinstance(value, tuple | list) or len(value) != self.length:
            raise FormError(f"expected a tuple of {self.length} whole numbers, got {_kind(value)}")
        numbers = [_whole(v, "whole numbers inside the tuple") for v in value]
        if self.low is not None and min(numbers) < self.low:
            raise FormError(f"entries count from {self.low} here, got {tuple(numbers)}")
        return str(tuple(numbers))


@dataclass(frozen=True)
class Choice(Form):
    """One string out of ``choices`` (case matters: ``"fc1"``, not ``"FC1"``)."""

    choices: tuple[str, ...] = ()

    def canonical(self, value) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise FormError(f"expected one of {', '.join(map(repr, self.choices))}, "
                            f"got {_kind(value)}")
        return value


@dataclass(frozen=True)
class Names(Form):
    """A list (or set) of distinct strings out of ``choices``; order does not matter."""

    choices: tuple[str, ...] = ()

    def _names(self, value) -> list[str]:
        if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
            raise FormError(f"expected a list of names such as [{self.choices[0]!r}], "
                            f"got {_kind(value)}")
        names = list(value)
        strange = [n for n in names if not isinstance(n, str) or n not in self.choices]
        if strange:
            raise FormError(f"{strange[0]!r} is not one of {', '.join(map(repr, self.choices))}")
        if len(set(names)) != len(names):
            raise FormError("a name is listed twice")
        return names

    def canonical(self, value) -> str:
        return ",".join(sorted(self._names(value)))

    def parts(self, value) -> dict[str, str]:
        names = set(self._names(value))
        return {f"has {c}": str(c in names) for c in self.choices}

    def describe_parts(self, wrong: list[str], value) -> str:
        names = set(self._names(value))
        extra = sum(part[4:] in names for part in wrong)
        missing = len(wrong) - extra
        return (f"wrong value: {extra} name{'s' * (extra != 1)} that should not be there, "
                f"{missing} missing")


@dataclass(frozen=True)
class Rows(Form):
    """A list of distinct 1-based indices in ``1..size``; order does not matter."""

    size: int = 1

    def _rows(self, value) -> list[int]:
        if isinstance(value, np.ndarray) and value.ndim == 1:
            value = value.tolist()
        if not isinstance(value, list | tuple | set | frozenset | range):
            raise FormError(f"expected a list of 1-based indices such as [1, 2], "
                            f"got {_kind(value)}")
        rows = [_whole(v, "whole numbers inside the list") for v in value]
        outside = [r for r in rows if not 1 <= r <= self.size]
        if outside:
            raise FormError(f"index {outside[0]} is outside 1..{self.size} (indices are 1-based)")
        if len(set(rows)) != len(rows):
            raise FormError("an index is listed twice")
        return rows

    def canonical(self, value) -> str:
        return str(sorted(self._rows(value)))

    def parts(self, value) -> dict[str, str]:
        rows = set(self._rows(value))
        return {f"has {r}": str(r in rows) for r in range(1, self.size + 1)}

    def describe_parts(self, wrong: list[str], value) -> str:
        rows = set(self._rows(value))
        extra = sum(int(part[4:]) in rows for part in wrong)
        missing = len(wrong) - extra
        return (f"wrong value: {extra} index{'es' * (extra != 1)} that should not be there, "
                f"{missing} missing")


@dataclass(frozen=True)
class Decimal(Form):
    """A number, compared after rounding to ``places`` decimals."""

    places: int = 2

    def canonical(self, value) -> str:
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.number):
            raise FormError(f"expected a number, got {_kind(value)}")
        return f"{round(float(value), self.places):.{self.places}f}"


@dataclass(frozen=True)
class Decimals(Form):
    """A list of distinct numbers, each rounded to ``places`` decimals; order does not matter."""

    places: int = 6

    def _texts(self, value) -> list[str]:
        if not isinstance(value, list | tuple | set | frozenset | np.ndarray):
            raise FormError(f"expected a list of numbers, got {_kind(value)}")
        texts = [Decimal(self.name, self.places).canonical(v) for v in value]
        if len(set(texts)) != len(texts):
            raise FormError(f"a number is listed twice (after rounding to {self.places} decimals)")
        return texts

    def canonical(self, value) -> str:
        return str(sorted(self._texts(value), key=float))

    def parts(self, value) -> dict[str, str]:
        return {f"count {len(self._texts(value))}": "count", **{t: "member" for t in
                                                                self._texts(value)}}

    def describe_parts(self, wrong: list[str], value) -> str:
        return _describe_members(wrong, "numbers")


@dataclass(frozen=True)
class Strings(Form):
    """A list of distinct strings (free text, case matters); order does not matter."""

    def canonical(self, value) -> str:
        if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
            raise FormError(f"expected a list of strings, got {_kind(value)}")
        if not all(isinstance(v, str) for v in value):
            raise FormError("expected strings inside the list")
        if len(set(value)) != len(list(value)):
            raise FormError("a string is listed twice")
        return json.dumps(sorted(value))

    def parts(self, value) -> dict[str, str]:
        self.canonical(value)
        return {f"count {len(list(value))}": "count", **{v: "member" for v in value}}

    def describe_parts(self, wrong: list[str], value) -> str:
        return _describe_members(wrong, "strings")


def _describe_members(wrong: list[str], what: str) -> str:
    members = [w for w in wrong if not w.startswith("count ")]
    if not members:
        return f"wrong value: every one of your {what} is right, but some are missing"
    length = "; the list also has the wrong length" if len(members) < len(wrong) else ""
    return (f"wrong value: {len(members)} of your {what} "
            f"{'are' if len(members) != 1 else 'is'} not right{length}")


@dataclass(frozen=True)
class IntArray(Form):
    """An array of whole numbers of a given shape; wrong entries are reported by position."""

    shape: tuple[int, ...] = ()

    def _array(self, value) -> np.ndarray:
        try:
            array = np.asarray(value)
        except Exception:  # a ragged list, say
            raise FormError(f"expected an array of shape {self.shape}, "
                            f"got {_kind(value)}") from None
        if array.shape != self.shape:
            raise FormError(f"expected an array of shape {self.shape}, got shape {array.shape}")
        if array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)) or not np.all(
                array == np.round(array)):
            raise FormError("expected whole numbers in the array")
        return array.astype(np.int64)

    def canonical(self, value) -> str:
        array = self._array(value)
        return hashlib.sha256(array.tobytes()).hexdigest()

    def parts(self, value) -> dict[str, str]:
        array = self._array(value)
        return {str(tuple(int(i) + 1 for i in index)): str(int(v))
                for index, v in np.ndenumerate(array)}

    def describe_parts(self, wrong: list[str], value) -> str:
        shown = ", ".join(wrong[:8]) + (", ..." if len(wrong) > 8 else "")
        return (f"wrong value in {len(wrong)} of {int(np.prod(self.shape))} entries "
                f"(1-based positions: {shown})")


# ---------------------------------------------------------------- the key (salted digests)


def digest(salt: str, exercise: str, slot: str, text: str) -> str:
    """The salted SHA-256 digest of one canonical text (first 24 hex digits)."""
    return hashlib.sha256(f"{salt}\x1f{exercise}\x1f{slot}\x1f{text}".encode()).hexdigest()[:24]


@cache
def load_key() -> dict:
    """The answer key: ``{"salt": ..., "digests": {exercise: [digest, ...]}}``."""
    text = resources.files("mnist_cnn.book").joinpath(KEY_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def entry_digests(exercise: str, position: int, form: Form, value, salt: str) -> list[str]:
    """The digests of one entry: the whole entry, then each of its parts.

    Used both to write the key (from the reference) and to check an answer.
    """
    slot = f"{position}"
    found = [digest(salt, exercise, slot, form.canonical(value))]
    found += [digest(salt, exercise, f"{slot}:{part}", text)
              for part, text in form.parts(value).items()]
    return found


# ---------------------------------------------------------------- property checks of functions


class NotExplicit(TypeError):
    """Raised when an exercise that asks for an explicit sum gets a vectorised expression."""


class OneEntryAtATime:
    """An array that hands out one entry at a time: ``z[n, r]`` works; ``z @ w``, ``z[n]``,
    ``z.T``, ``np.asarray(z)`` and iteration do not. For exercises that ask for explicit sums.
    """

    def __init__(self, array: np.ndarray) -> None:
        self._array = np.asarray(array, dtype=np.float64)
        self.shape = self._array.shape
        self.ndim = self._array.ndim

    def __getitem__(self, index):
        index = index if isinstance(index, tuple) else (index,)
        if len(index) != self.ndim or not all(isinstance(i, int | np.integer) for i in index):
            raise NotExplicit("this exercise asks for an explicit sum: take one entry at a "
                              "time, z_flat[n, r], w_fc1[h, r], b_fc1[h]")
        return float(self._array[index])

    def _refuse(self, *_args, **_kwargs):
        raise NotExplicit("this exercise asks for an explicit sum over r, not a vectorised "
                          "expression")

    __matmul__ = __rmatmul__ = __array__ = __iter__ = __len__ = _refuse
    __mul__ = __rmul__ = __add__ = __radd__ = _refuse
    __array_ufunc__ = None  # numpy functions refuse it instead of building object arrays

    @property
    def T(self):  # noqa: N802 - numpy's name
        self._refuse()


def _problems_of_cases(cases: Sequence[tuple[str, Callable[[], str | None]]]) -> list[str]:
    """Run every case; collect ``"case: what is wrong"`` for each that fails."""
    problems = []
    for label, run in cases:
        try:
            problem = run()
        except NotExplicit as error:
            problem = f"wrong form: {error}"
        except Exception as error:  # the student's function failed: say how, not the answer
            problem = f"your function raised {type(error).__name__}: {str(error)[:160]}"
        if problem:
            problems.append(f"{label}: {problem}")
    return problems


def _compare(got, want, what: str = "the result", rtol: float = 1e-7,
             atol: float = 1e-9) -> str | None:
    """Form (type, shape) first, then value; the reference is never printed."""
    try:
        got = np.asarray(got, dtype=np.float64)
    except Exception:
        return f"wrong form: {what} is {_kind(got)}, expected numbers"
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return f"wrong form: {what} has shape {got.shape}, expected {want.shape}"
    if not np.all(np.isfinite(got)):
        return f"wrong value: {what} holds NaN or inf"
    bad = ~np.isclose(got, want, rtol=rtol, atol=atol)
    if bad.any() and bad.size == 1:
        return f"wrong value: {what} is not right"
    if bad.any():
        return f"wrong value: {int(bad.sum())} of {bad.size} entries of {what} are wrong"
    return None


def _rng(seed: int = 2024) -> np.random.Generator:
    return np.random.default_rng(seed)


def _linear_gradient(f: Callable[[np.ndarray], np.ndarray], shape: tuple[int, ...],
                     delta: np.ndarray) -> np.ndarray:
    """d/dv sum(delta * f(v)) for f linear in v: the value on each unit input (exact)."""
    units = np.eye(int(np.prod(shape))).reshape((-1,) + shape)
    outputs = np.stack([f(u) for u in units])  # [size, *f's output shape]
    return np.tensordot(outputs, delta, axes=delta.ndim).reshape(shape)


# 2.4 -- the entry (n, h) of Eq. (1.8) as an explicit sum
def _probe_fc1_entry(fc1_entry) -> list[str]:
    from mnist_cnn.reference.loops import fc_forward_loops

    # by hand: entry (n, h) = b_h + sum_r z_{n,r} w_{h,r}
    hand_z = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 2.0]])
    hand_w = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]])
    hand_b = np.array([0.5, -1.0])
    hand = np.array([[1 - 3 + 0.5, 2 + 2 - 1], [0 - 2 + 0.5, 0 - 1 - 1]])
    rng = _rng()
    z, w, b = rng.normal(size=(3, 7)), rng.normal(size=(4, 7)), rng.normal(size=4)

    def entries(z, w, b):
        wrapped = [OneEntryAtATime(a) for a in (z, w, b)]
        return [[fc1_entry(*wrapped, n, h) for h in range(w.shape[0])] for n in range(z.shape[0])]

    seed = _rng(7)
    seed_z, seed_w, seed_b = (seed.normal(size=(2, 2880)), seed.normal(size=(500, 2880)),
                              seed.normal(size=500))
    pairs = ((0, 0), (1, 499), (0, 123))

    def seed_case():
        wrapped = [OneEntryAtATime(a) for a in (seed_z, seed_w, seed_b)]
        got = [fc1_entry(*wrapped, n, h) for n, h in pairs]
        want = [seed_z[n] @ seed_w[h] + seed_b[h] for n, h in pairs]  # the matrix form (2.7)
        return _compare(got, want, "the entries (1, 1), (2, 500), (1, 124)")

    return _problems_of_cases([
        ("2 x 3 case by hand", lambda: _compare(entries(hand_z, hand_w, hand_b), hand,
                                                "the entries")),
        ("the seed's fc1 (D_0 = 2880, D_1 = 500)", seed_case),
        ("3 x 7 case against the loops of (1.8)",
         lambda: _compare(entries(z, w, b), fc_forward_loops(z, w, b), "the entries")),
    ])


# 3.2 -- the rows of X_col in (i, j, c) order
def _probe_to_ijc(to_ijc) -> list[str]:
    def case(C_in, K, columns, seed):
        rng = _rng(seed)
        w, X = rng.normal(size=(4, C_in, K, K)), rng.normal(size=(C_in * K * K, columns))
        W_ijc, W_cij = w.transpose(0, 2, 3, 1).reshape(4, -1), w.reshape(4, -1)
        got = to_ijc(X.copy(), C_in, K)
        if np.shape(got) != X.shape:
            return (f"wrong form: to_ijc(X_col, C_in, K) has shape {np.shape(got)}, "
                    f"expected {X.shape}")
        return _compare(W_ijc @ got, W_cij @ X, "W_ijc @ to_ijc(X_col, C_in, K)")

    return _problems_of_cases([
        ("conv 2 of the book (C_in = 20, K = 5)", lambda: case(20, 5, 64, 1)),
        ("C_in = 3, K = 2", lambda: case(3, 2, 5, 2)),
        ("C_in = 2, K = 3", lambda: case(2, 3, 4, 3)),
    ])


# 3.4 -- 1 x 1 convolution as a fully connected layer per pixel
def _probe_conv1x1(conv1x1) -> list[str]:
    from mnist_cnn.reference.loops import conv_forward_loops

    def case(N, C_in, H, W, C_out, seed):
        rng = _rng(seed)
        x, w = rng.normal(size=(N, C_in, H, W)), rng.normal(size=(C_out, C_in))
        want = conv_forward_loops(x, w[:, :, None, None], np.zeros(C_out))
        return _compare(conv1x1(x.copy(), w.copy()), want, "conv1x1(x, w)")

    return _problems_of_cases([
        ("20 -> 50 channels on 12 x 12 maps (the book's case)",
         lambda: case(1, 20, 12, 12, 50, 3)),
        ("N = 2, C_in = 5, 4 x 3 pixels, C_out = 6", lambda: case(2, 5, 4, 3, 6, 1)),
        ("N = 1, C_in = 3, 2 x 5 pixels, C_out = 2", lambda: case(1, 3, 2, 5, 2, 2)),
    ])


def _conv_forward(x, w, stride=1, padding=0):
    from mnist_cnn.reference import layers

    return layers.conv_forward(x, w, np.zeros(w.shape[0]), stride=stride, padding=padding)[0]


# 4.1 -- dL/dw for S = 2
def _probe_dw_stride2(dw_stride2) -> list[str]:
    def case(N, C_in, H, W, C_out, K, seed):
        rng = _rng(seed)
        x = rng.normal(size=(N, C_in, H, W))
        H_c, W_c = (H - K) // 2 + 1, (W - K) // 2 + 1
        delta = rng.normal(size=(N, C_out, H_c, W_c))
        # L(w) = sum(delta * z(w)) is linear in w: dL/dw is L on the unit kernels (exact)
        want = np.stack([_linear_gradient(lambda u, o=o: _conv_forward(x, u[None], 2)[:, 0],
                                          (C_in, K, K), delta[:, o]) for o in range(C_out)])
        return _compare(dw_stride2(x.copy(), delta.copy(), K), want, "dw_stride2(x, delta, K)")

    return _problems_of_cases([
        ("seed case (28 x 28, K = 5, S = 2, N = 2, 3 filters)",
         lambda: case(2, 1, 28, 28, 3, 5, 1)),
        ("9 x 9, K = 3, C_in = 2", lambda: case(2, 2, 9, 9, 2, 3, 2)),
        ("10 x 7, K = 3, C_in = 2", lambda: case(1, 2, 10, 7, 2, 3, 3)),
    ])


# 4.2 -- dL/dx for P = 1
def _probe_dx_padding1(dx_padding1) -> list[str]:
    def case(N, C_in, H, W, C_out, K, seed):
        rng = _rng(seed)
        w = rng.normal(size=(C_out, C_in, K, K))
        delta = rng.normal(size=(N, C_out, H - K + 3, W - K + 3))
        # L(x) = sum(delta * z(x)) is linear in x: dL/dx is L on the unit images (exact)
        want = np.stack([_linear_gradient(lambda u: _conv_forward(u[None], w, 1, 1)[0],
                                          (C_in, H, W), delta[n]) for n in range(N)])
        return _compare(dx_padding1(delta.copy(), w.copy()), want, "dx_padding1(delta, w)")

    return _problems_of_cases([
        ("seed case (28 x 28, K = 5, P = 1, 3 filters)", lambda: case(1, 1, 28, 28, 3, 5, 1)),
        ("6 x 5, K = 3, C_in = 2, C_out = 2, N = 2", lambda: case(2, 2, 6, 5, 2, 3, 2)),
    ])


def _softmax(z):
    u = np.exp(z - z.max(axis=1, keepdims=True))
    return u / u.sum(axis=1, keepdims=True)


def _numerical(f, v: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """Centred differences of a scalar function, float64."""
    grad = np.zeros_like(v)
    for index in np.ndindex(v.shape):
        e = np.zeros_like(v)
        e[index] = step
        grad[index] = (f(v + e) - f(v - e)) / (2 * step)
    return grad


# 4.4 -- the loss whose delta is y - t
def _probe_summed_loss(loss) -> list[str]:
    def case(N, D, seed):
        rng = _rng(seed)
        z, labels = rng.normal(size=(N, D)), rng.integers(0, D, size=N)
        t = np.eye(D)[labels]
        numeric = _numerical(lambda v: float(loss(_softmax(v), labels.copy())), z)
        return _compare(numeric, _softmax(z) - t, "the gradient of your loss", atol=1e-6,
                        rtol=1e-5)

    return _problems_of_cases([("the seed batch (N = 64, 10 classes)", lambda: case(64, 10, 2)),
                               ("N = 3, 4 classes", lambda: case(3, 4, 1))])


# 5.1 -- momentum's long-run rate
def _probe_long_run_rate(long_run_rate) -> list[str]:
    from mnist_cnn.reference.optim import SGDMomentum

    def case(eta, mu):
        w = {"w": np.zeros(1)}
        optimiser = SGDMomentum(w, momentum=mu)
        for _ in range(3000):
            before = w["w"].copy()
            optimiser.step({"dw": np.ones(1)}, eta)
        step = float(before[0] - w["w"][0])  # plain SGD with rate r and g = 1 steps by r
        return _compare(float(long_run_rate(eta, mu)), step, f"long_run_rate({eta}, {mu})")

    return _problems_of_cases([(f"eta = {e}, mu = {m}", lambda e=e, m=m: case(e, m))
                               for e, m in ((0.1, 0.9), (0.05, 0.5), (0.2, 0.0))])


# 5.2 -- the gradient of the penalised loss
def _probe_penalised_gradient(penalised_gradient) -> list[str]:
    def case(lam, seed):
        rng = _rng(seed)
        g, w = rng.normal(size=5), rng.normal(size=5)
        # L(w) = g . w has gradient g; centred differences of L + lam/2 |w|^2 are exact
        numeric = _numerical(lambda v: g @ v + lam / 2 * v @ v, w.copy(), step=1e-3)
        return _compare(penalised_gradient(g.copy(), w.copy(), lam), numeric,
                        f"penalised_gradient(g, w, {lam})", atol=1e-8)

    return _problems_of_cases([("lam = 5e-4", lambda: case(5e-4, 1)),
                               ("lam = 0.3", lambda: case(0.3, 2))])


# 5.4 -- the mean of the cosine rates
def _probe_mean_rate(mean_rate) -> list[str]:
    from mnist_cnn.reference.optim import learning_rate

    def case(T):
        want = np.mean([learning_rate(t, T, 0.05) for t in range(T)])
        return _compare(float(mean_rate(T, 0.05)), want, f"mean_rate({T}, 0.05)", rtol=1e-12)

    return _problems_of_cases([(f"T = {T}", lambda T=T: case(T)) for T in (1, 7, 100, 2346)])


# 6.1 -- the row of z_conv that pooling window p reads at offset i
def _probe_pool_row(pool_row) -> list[str]:
    from mnist_cnn.reference.im2col import im2col_per_channel

    rows = np.repeat(np.arange(1.0, 25.0)[:, None], 24, axis=1)[None, None]  # value = 1-based row
    X_pool = im2col_per_channel(rows, 2, 2)[0, 0]  # [K_p K_p, H_p W_p]

    def case():
        wrong = [(p, i) for p in range(1, 13) for i in (1, 2)
                 if _compare(pool_row(p, i), X_pool[(i - 1) * 2, (p - 1) * 12]) is not None]
        if wrong:
            return (f"wrong value for {len(wrong)} of 24 (p, i), e.g. pool_row{wrong[0]} "
                    "(p and i are 1-based, the row too)")
        return None

    return _problems_of_cases([("p = 1..12, i = 1, 2 (windows 1-4 by hand: rows 1-2, 3-4, "
                                "5-6, 7-8)", case)])


def _fc_forward(a, w):
    return a @ w.T  # Eq. (2.7) without bias: the forward pass, not a gradient


# 6.2 -- delta_relu = d/d z_relu of sum(delta_fc2 * z_fc2)
def _probe_delta_relu(delta_relu) -> list[str]:
    def case(N, D_1, D_2, seed):
        rng = _rng(seed)
        delta, w = rng.normal(size=(N, D_2)), rng.normal(size=(D_2, D_1))
        want = np.stack([_linear_gradient(lambda a: _fc_forward(a[None], w)[0], (D_1,), delta[n])
                         for n in range(N)])
        return _compare(delta_relu(delta.copy(), w.copy()), want, "delta_relu(delta_fc2, w_fc2)")

    return _problems_of_cases([("the seed's fc2 (N = 2, D_1 = 500, D_2 = 10)",
                                lambda: case(2, 500, 10, 3)),
                               ("N = 3, D_1 = 6, D_2 = 4", lambda: case(3, 6, 4, 1)),
                               ("N = 4, D_1 = 4, D_2 = 4", lambda: case(4, 4, 4, 2))])


# 6.3 -- dL/db_fc2 of the mean cross-entropy
def _probe_db_fc2(db_fc2) -> list[str]:
    def case(N, D, seed):
        rng = _rng(seed)
        labels = rng.integers(0, D, size=N)
        z = rng.normal(size=(N, D))
        y, t = _softmax(z), np.eye(D)[labels]

        def mean_ce(b):
            return -np.mean(np.log(_softmax(z + b)[np.arange(N), labels]))

        numeric = _numerical(mean_ce, np.zeros(D))
        return _compare(db_fc2(y.copy(), t.copy()), numeric, "db_fc2(y, t)", atol=1e-6, rtol=1e-5)

    return _problems_of_cases([("the seed batch (N = 64, 10 classes)", lambda: case(64, 10, 2)),
                               ("N = 4, 3 classes", lambda: case(4, 3, 1))])


# 6.4 -- dL/dw_fc1 shaped like w_fc1
def _probe_dw_fc1(dw_fc1) -> list[str]:
    def case(N, D_0, D_1, seed):
        rng = _rng(seed)
        a, delta = rng.normal(size=(N, D_0)), rng.normal(size=(N, D_1))
        want = _linear_gradient(lambda w: _fc_forward(a, w), (D_1, D_0), delta)
        return _compare(dw_fc1(a.copy(), delta.copy()), want, "dw_fc1(z_flat, delta_fc1)")

    return _problems_of_cases([("N = 3, D_0 = 6, D_1 = 4", lambda: case(3, 6, 4, 1)),
                               ("N = 2, D_0 = 5, D_1 = 5", lambda: case(2, 5, 5, 2))])


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Exercise:
    """One exercise: the form of its answer and how it is checked.

    Attributes
    ----------
    form : str
        What the answer is, as the answer cell of the student edition asks for it.
    entries : tuple of Form
        For value answers: the form of each entry of the answer tuple (one entry: the answer
        itself is that entry, not a tuple of one).
    probe : callable, optional
        For function answers: ``(function) -> list of problems`` (empty when it passes).
    """

    form: str
    entries: tuple[Form, ...] = field(default_factory=tuple)
    probe: Callable[[Callable], list[str]] | None = None


def _value(form: str, *entries: Form) -> Exercise:
    return Exercise(form, entries=entries)


def _function(form: str, probe: Callable[[Callable], list[str]]) -> Exercise:
    return Exercise(form, probe=probe)


def _shape(name: str, ndim: int) -> Ints:
    return Ints(name, length=ndim)


EXERCISES: dict[str, Exercise] = {
    "0.1": _value("(shape of z_conv, shape of z_pool, fc1 parameters) with P = 2: two NCHW "
                  "shapes (batch of 64) and a whole number",
                  _shape("shape of z_conv", 4), _shape("shape of z_pool", 4),
                  Int("fc1 parameters")),
    "0.2": _value("(H_c, True or False: the 2 x 2 pooling windows tile the conv output) with S = 2",
                  Int("H_c"), Bool("the windows tile")),
    "0.3": _value("(conv parameters, D_0 = length of the flattened vector) for 3 x 32 x 32 input",
                  Int("conv parameters"), Int("D_0")),
    "1.1": _value("(H_c, H_p, D_0, shape of w_fc1, [names of the layers whose parameter count "
                  "changes]) with P = 2; names from 'conv', 'pool', 'reshape', 'fc1', 'relu', "
                  "'fc2', 'softmax'",
                  Int("H_c"), Int("H_p"), Int("D_0"), _shape("shape of w_fc1", 2),
                  Names("layers whose parameter count changes", LAYER_NAMES)),
    "1.2": _value("(H_c, [1-based numbers of the image rows that no window reads]) with S = 2",
                  Int("H_c"), Rows("rows no window reads", size=28)),
    "1.3": _value("(shape of x, shape of w_conv, shape of z_conv, shape of z_pool, shape of "
                  "z_flat, conv parameters, the index of Eq. (1.3) whose sum now has more than "
                  "one term: one of 'c', 'i', 'j')",
                  _shape("shape of x", 4), _shape("shape of w_conv", 4),
                  _shape("shape of z_conv", 4), _shape("shape of z_pool", 4),
                  _shape("shape of z_flat", 2), Int("conv parameters"),
                  Choice("the index", ("c", "i", "j"))),
    "1.4": _value("(multiplications of the conv, multiplications of fc1, the layer with more "
                  "parameters, the layer with more multiplications) for the batch of 64; "
                  "layers named 'conv' or 'fc1'",
                  Int("conv multiplications"), Int("fc1 multiplications"),
                  Choice("more parameters", ("conv", "fc1")),
                  Choice("more multiplications", ("conv", "fc1"))),
    "2.1": _value("(shape of X_c, shape of F_c, shape of Z) for one image, S = 2, P = 2",
                  _shape("shape of X_c", 2), _shape("shape of F_c", 2), _shape("shape of Z", 2)),
    "2.2": _value("copies: a 28 x 28 array of whole numbers, copies[u - 1, v - 1] = the number of "
                  "columns of X_c that hold pixel (u, v)",
                  IntArray("copies", shape=(28, 28))),
    "2.3": _value("(H_p, number of rows the reshape form drops from the bottom of the 25 x 25 map "
                  "(and columns from the right) before it reshapes, True or False: the im2col "
                  "form (2.6) needs that step too)",
                  Int("H_p"), Int("rows dropped"), Bool("im2col needs it")),
    "2.4": _function("a function fc1_entry(z_flat, w_fc1, b_fc1, n, h) -> entry (n, h) of "
                     "Eq. (1.8) as an explicit sum over r, one entry at a time (n, h, r are "
                     "0-based code indices)", _probe_fc1_entry),
    "3.1": _value("(shape of X_col, shape of W_mat, shape of Z) for one 3 x 32 x 32 image, "
                  "6 filters 5 x 5",
                  _shape("shape of X_col", 2), _shape("shape of W_mat", 2),
                  _shape("shape of Z", 2)),
    "3.2": _function("a function to_ijc(X_col, C_in, K) -> the rows of X_col in the (i, j, c) "
                     "order of w.transpose(0, 2, 3, 1)", _probe_to_ijc),
    "3.3": _value("(shape of X_wide, shape of W_mat @ X_wide) for conv 2 on the batch of 64",
                  _shape("shape of X_wide", 2), _shape("shape of W_mat @ X_wide", 2)),
    "3.4": _function("a function conv1x1(x, w) -> the 1 x 1 convolution of x [N, C_in, H, W] "
                     "with w [C_out, C_in], computed as a fully connected layer per pixel",
                     _probe_conv1x1),
    "4.1": _function("a function dw_stride2(x, delta, K) -> dL/dw_conv [C_out, C_in, K, K] for "
                     "S = 2, P = 0, from x [N, C_in, H, W] and delta [N, C_out, H_c, W_c], as a "
                     "correlation of x with the dilated delta", _probe_dw_stride2),
    "4.2": _function("a function dx_padding1(delta, w) -> dL/dx [N, C_in, H, W] for P = 1, "
                     "S = 1, from delta [N, C_out, H_c, W_c] and w [C_out, C_in, K, K]",
                     _probe_dx_padding1),
    "4.3": _value("((row, column), 1-based, of the entry that receives the delta, (left, right) "
                  "one-sided derivatives of the max with respect to entry (2, 1), [names among "
                  "'dx', 'dw_conv', 'db_conv' of the gradients that change under the last-max "
                  "rule on MNIST])",
                  Ints("the entry that receives the delta", length=2, low=1),
                  Ints("the one-sided derivatives", length=2),
                  Names("gradients that change", ("dx", "dw_conv", "db_conv"))),
    "4.4": _function("a function loss(y, labels) -> the loss (a number) whose delta with respect "
                     "to the logits is exactly y - t; labels are 0-based class numbers",
                     _probe_summed_loss),
    "5.1": _function("a function long_run_rate(eta, mu) -> the plain SGD rate that makes the same "
                     "step in the long run", _probe_long_run_rate),
    "5.2": _function("a function penalised_gradient(g, w, lam) -> the gradient of "
                     "L + lam/2 ||w||^2 given g = dL/dw", _probe_penalised_gradient),
    "5.3": _value("(% of the 10,000 digits that lose ink, % of all their ink lost), in percent, "
                  "rounded to 1 and 2 decimals",
                  Decimal("% of digits", places=1), Decimal("% of ink", places=2)),
    "5.4": _function("a function mean_rate(T, eta_0) -> the mean of the rates (5.2) over T steps, "
                     "no warm-up", _probe_mean_rate),
    "6.1": _function("a function pool_row(p, i) -> the 1-based row of z_conv that window p reads "
                     "at offset i (p, i 1-based; K_p = S_p = 2)", _probe_pool_row),
    "6.2": _function("a function delta_relu(delta_fc2, w_fc2) -> the corrected matrix form",
                     _probe_delta_relu),
    "6.3": _function("a function db_fc2(y, t) -> the corrected gradient of the mean "
                     "cross-entropy with respect to b_fc2", _probe_db_fc2),
    "6.4": _function("a function dw_fc1(z_flat, delta_fc1) -> the corrected gradient, shaped "
                     "like w_fc1", _probe_dw_fc1),
    "6.5": _value("the list of every lam (c = lam d) whose guess has relative error 1/sqrt(3), "
                  "each rounded to 6 decimals",
                  Decimals("the values of lam", places=6)),
    "7.1": _value("the list of the referees (ledger sources, as the ledger spells them) of the "
                  "independent checks of Eq. (4.14) with S = 2, P = 1",
                  Strings("the referees")),
    "7.2": _value("(independent, consistency): how many checks of each kind chapter 3 records",
                  Int("independent"), Int("consistency")),
}


# ---------------------------------------------------------------- verdicts


def _as_entries(exercise: Exercise, answer) -> list:
    """The answer as a list of entries; raises FormError when its outer form is wrong."""
    forms = exercise.entries
    if len(forms) == 1:
        return [answer]
    if not isinstance(answer, tuple | list) or len(answer) != len(forms):
        raise FormError(f"expected a tuple of {len(forms)} entries "
                        f"({', '.join(f.name for f in forms)}), got {_kind(answer)}")
    return list(answer)


def problems(exercise: str, answer) -> list[str]:
    """Everything that is wrong with an answer: empty when it passes.

    Parameters
    ----------
    exercise : str
        ``"chapter.number"``, a key of ``EXERCISES``.
    answer : object
        The student's answer, in the form ``EXERCISES[exercise].form``.

    Returns
    -------
    list of str
        One line per wrong entry (value answers) or failing case (function answers), each
        saying whether the form or the value is wrong; never the reference answer.
    """
    if exercise not in EXERCISES:
        raise KeyError(f"no exercise {exercise!r}; expected one of {', '.join(EXERCISES)}")
    entry = EXERCISES[exercise]
    if answer is Ellipsis or answer is None:
        return [NO_ANSWER]
    if entry.probe is not None:
        if not callable(answer):
            return [f"wrong form: expected a function, got {_kind(answer)}"]
        return entry.probe(answer)
    try:
        values = _as_entries(entry, answer)
    except FormError as error:
        return [f"wrong form: {error}"]
    key = load_key()
    reference = set(key["digests"][exercise])
    found = []
    for position, (form, value) in enumerate(zip(entry.entries, values, strict=True), start=1):
        label = (f"entry {position} of {len(values)} ({form.name})" if len(values) > 1
                 else form.name)
        try:
            whole, *parts = entry_digests(exercise, position, form, value, key["salt"])
        except FormError as error:
            found.append(f"{label}: wrong form: {error}")
            continue
        except Exception as error:  # an object no form expects (unhashable, unprintable, ...)
            found.append(f"{label}: wrong form: cannot read {type(value).__name__} "
                         f"({type(error).__name__})")
            continue
        if whole in reference:
            continue
        names = list(form.parts(value))
        wrong = [name for name, d in zip(names, parts, strict=True) if d not in reference]
        found.append(f"{label}: right form, " + (form.describe_parts(wrong, value) if wrong
                                                 else "wrong value"))
    return found


def verdict(exercise: str, answer) -> str | None:
    """What is wrong with an answer, in one string (``"; "``-joined), or None if it passes."""
    found = problems(exercise, answer)
    return "; ".join(found) if found else None


class Result:
    """What ``check`` returns: true when the answer passes.

    It shows nothing as the last value of a notebook cell (no stray ``True``/``False`` line
    under the printed verdict), and ``assert exercises.check(...)`` still works.
    """

    def __init__(self, exercise: str, found: list[str]) -> None:
        self.exercise, self.problems = exercise, found

    def __bool__(self) -> bool:
        return not self.problems

    def _ipython_display_(self) -> None:  # IPython shows nothing for it
        return None

    def __repr__(self) -> str:
        return f"<Exercise {self.exercise}: {'PASS' if self else 'FAIL'}>"


def format_result(exercise: str, found: list[str]) -> str:
    """``Exercise 1.2: PASS``, or ``FAIL`` followed by one indented line per problem."""
    if not found:
        return f"Exercise {exercise}: PASS"
    if found == [NO_ANSWER]:
        return f"Exercise {exercise}: FAIL ({NO_ANSWER})"
    return f"Exercise {exercise}: FAIL\n" + "\n".join(f"  - {p}" for p in found)


def check(exercise: str, answer) -> Result:
    """Check an answer to an exercise and print ``Exercise n.m: PASS`` or ``FAIL`` and why.

    Parameters
    ----------
    exercise : str
        ``"chapter.number"``, e.g. ``"1.2"``.
    answer : object
        The answer, in the form the exercise asks for (``EXERCISES[exercise].form``).

    Returns
    -------
    Result
        True when the answer passes; shows nothing as a cell's last value.
    """
    found = problems(exercise, answer)
    print(format_result(exercise, found))
    return Result(exercise, found)
