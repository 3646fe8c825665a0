"""Read the book's display equations: a small LaTeX parser and a numpy evaluator.

What this is: a recursive-descent parser for the subset of LaTeX the chapters typeset
(indexed symbols, sums and maxima with limits, floor, ``\\bmod``, fractions, ``\\exp``,
``\\log``, ``\\cos``, cases, indicators ``\\mathbb 1[...]``, set counts ``\\#\\{n : ...\\}``,
``\\arg\\max``, the least or largest element of a set ``\\min\\{i = 1..K : ...\\}``) and
an evaluator that computes an expression on numbers, with every free index an axis of a
broadcast numpy array. :mod:`mnist_cnn.book.equations.check` uses it to compare the typeset
equations with the package, entry by entry. A LaTeX comment (``% check: (1.3)``) is a
marker for the check, not maths.

What this is not: a general LaTeX reader. Anything outside the subset raises
:class:`LatexError` naming the token, so an equation the parser cannot read fails the
check instead of being skipped. Spacing (``\\,``, ``\\;``, ``\\big``, ...) is ignored.

Indices are 1-based, as in the book: ``x_{n,c,m,l}`` reads entry ``x[n-1, c-1, m-1, l-1]``
of a tensor (a tensor may declare another base, e.g. time steps ``t = 0, 1, ...``). An
index that is not an integer or lies outside the tensor gives NaN, so a wrong index
cannot go unnoticed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "MatrixEvaluator",
    "Tensor",
    "LatexError",
    "Node",
    "Shape",
    "Clause",
    "Display",
    "parse_display",
    "Evaluator",
]


class LatexError(ValueError):
    """The LaTeX is outside the subset the parser reads, or refers to an unknown name."""


# --------------------------------------------------------------------------- tokens

_IGNORED = {
    r"\,", r"\;", r"\:", r"\!", r"\ ", r"\big", r"\Big", r"\bigg", r"\Bigg", r"\left",
    r"\right", r"\bigl", r"\bigr", r"\Bigl", r"\Bigr", r"\displaystyle", r"\limits",
}
_TOKEN = re.compile(r"\\[A-Za-z]+|\\[\s\S]|\d|[A-Za-z]|\.\.|\S")


def tokenize(text: str) -> list[str]:
    """Split LaTeX into tokens: commands, single letters, single digits, symbols.

    Sizing and spacing commands are dropped; ``\\\\[2mm]`` becomes ``\\\\``; ``\\tag{...}``
    and ``\\label{...}`` are removed.

    Parameters
    ----------
    text : str
        LaTeX of one display.

    Returns
    -------
    list of str
        E.g. ``["z", "^", "{", "(", "c", "o", "n", "v", ")", "}", ...]``.
    """
    text = re.sub(r"(?<!\\)%[^\n]*", "", text)  # LaTeX comments (the display's marker)
    text = re.sub(r"\\\\\[[^\]]*\]", r"\\\\", text)
    text = re.sub(r"\\(tag|label)\{[^}]*\}", "", text)
    tokens = []
    for tok in _TOKEN.findall(text):
        if tok in _IGNORED or (len(tok) == 2 and tok[0] == "\\" and tok[1].isspace()):
            continue
        tokens.append(tok)
    return tokens


# --------------------------------------------------------------------------- syntax tree


@dataclass
class Node:
    """One node of an expression: ``kind`` and its parts (see :class:`_Parser`)."""

    kind: str
    args: tuple = ()
    name: str = ""
    extra: Any = None

    def __repr__(self) -> str:  # compact, for error messages
        inner = ", ".join(map(repr, self.args))
        return f"{self.kind}{'[' + self.name + ']' if self.name else ''}({inner})"


@dataclass
class Clause:
    """A part of a display between ``\\quad``s: a chain ``a = b = c`` or a range list."""

    text: str
    terms: list[Node] = field(default_factory=list)  # the chain a = b = ...
    ranges: list[tuple[str, Node, Node]] = field(default_factory=list)
    kind: str = "chain"  # "chain", "ranges", "shape" (``\in \mathbb{R}^{...}``) or "error"
    error: str = ""
    shapes: list[Shape] = field(default_factory=list)


@dataclass
class Shape:
    """``A = [blocks] \\in \\mathbb{R}^{d_1 \\times d_2} = \\mathbb{R}^{20 \\times 25}``."""

    subject: Node
    dims: list[Node]
    seed_dims: list[Node] | None = None  # the same dims as numbers, for the seed network
    blocks: list[list[Node]] | None = None  # a block matrix, rows of entries


@dataclass
class Display:
    """A parsed display equation: its clauses in order."""

    tag: str
    clauses: list[Clause]


_GREEK = {
    rf"\{g}" for g in "alpha beta gamma delta epsilon eta theta kappa lambda mu nu xi rho sigma "
    "tau phi chi psi omega Delta Gamma Lambda Sigma Phi Psi Omega".split()
}
_TRANSPOSE = (["T"], [r"\mathsf", "T"], [r"\top"])
_WORDS_IN_NAMES = re.compile(r"^[A-Za-z]{2,}$")


class _Parser:
    """Recursive descent over the token list.

    Grammar (juxtaposition is multiplication)::

        chain    := expr ('=' expr)*
        expr     := ['-'] term (('+' | '-') term)*
        term     := power ((power) | '\\bmod' power | '\\cdot' power)*
        power    := atom ['^' sup]
        atom     := number | symbol | '(' expr ')' | '[' expr ']' | \\frac | floor
                  | \\sum_{v=lo}^{hi} term | \\max_{v=lo..hi} term | \\max(a, b)
                  | \\exp atom | \\log atom | \\cos atom | \\mathbb 1[cond]
                  | \\#\\{v : cond\\} | \\arg\\max_v term | cases
        cond     := rel ((',' | \\text{ and }) rel)*
        rel      := expr (('<' | '\\le' | '>' | '\\ge' | '=') expr)+
    """

    def __init__(self, tokens: list[str]):
        self.toks = tokens
        self.pos = 0

    # -- helpers
    def peek(self, k: int = 0) -> str | None:
        i = self.pos + k
        return self.toks[i] if i < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None:
            raise LatexError(f"unexpected end of equation (expected {expected or 'more'})")
        if expected is not None and tok != expected:
            raise LatexError(f"expected {expected!r}, got {tok!r} at token {self.pos}")
        self.pos += 1
        return tok

    def group_tokens(self) -> list[str]:
        """The tokens of one argument: a braced group or a single token."""
        if self.peek() == "{":
            depth, start = 0, self.pos
            while True:
                tok = self.take()
                depth += tok == "{"
                depth -= tok == "}"
                if depth == 0:
                    return self.toks[start + 1 : self.pos - 1]
        return [self.take()]

    def sub_parser(self, tokens: list[str]) -> _Parser:
        return _Parser(tokens)

    def at_end(self) -> bool:
        return self.pos >= len(self.toks)

    # -- grammar
    def chain(self) -> list[Node]:
        terms = [self.expr()]
        while self.peek() == "=":
            self.take()
            terms.append(self.expr())
        return terms

    def expr(self) -> Node:
        if self.peek() in ("-", "+"):
            sign = self.take()
            node = self.term()
            if sign == "-":
                node = Node("neg", (node,))
        else:
            node = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            node = Node("add" if op == "+" else "sub", (node, self.term()))
        return node

    _STOP = {"+", "-", "=", ")", "]", "}", ",", "<", ">", r"\le", r"\ge", r"\leq", r"\geq",
             r"\neq", "&", r"\\", r"\end", r"\rbrace", r"\}", r"\rfloor", ":", "|", ".",
             r"\text{and}", r"\in", r"\xrightarrow", r"\quad", r"\qquad", r"\to"}

    def term(self) -> Node:
        node = self.power()
        while True:
            tok = self.peek()
            if tok is None or tok in self._STOP or self._is_text_and():
                return node
            if tok == r"\bmod":  # a mod b c: the modulus is the whole product b c
                self.take()
                node = Node("mod", (node, self.term()))
            elif tok in (r"\cdot", r"\times"):
                self.take()
                node = Node("mul", (node, self.power()))
            else:
                node = Node("mul", (node, self.power()))

    def _is_text_and(self) -> bool:
        return self.peek() == r"\text" and self._text_at(self.pos).strip() in ("and", "if")

    def _text_at(self, pos: int) -> str:
        p = _Parser(self.toks)
        p.pos = pos + 1
        return "".join(p.group_tokens())

    def power(self) -> Node:
        node = self.atom()
        while self.peek() == "^":
            self.take()
            sup = self.group_tokens()
            if sup in _TRANSPOSE:
                node = Node("transpose", (node,))
            else:
                node = Node("pow", (node, self.sub_parser(sup).whole_expr()))
        return node

    def whole_expr(self) -> Node:
        node = self.expr()
        if not self.at_end():
            raise LatexError(f"unexpected {self.peek()!r} in {' '.join(self.toks)!r}")
        return node

    def index_list(self, tokens: list[str]) -> list[Node]:
        p = self.sub_parser(tokens)
        out = [p.expr()]
        while p.peek() == ",":
            p.take()
            out.append(p.expr())
        if not p.at_end():
            raise LatexError(f"unexpected {p.peek()!r} in index list {' '.join(tokens)!r}")
        return out

    def limits(self) -> tuple[str, Node | None, Node | None]:
        """``_{v=lo}^{hi}``, ``_{v = lo..hi}`` or ``_v`` (range from the context)."""
        if self.peek() != "_":
            raise LatexError(f"a sum or max needs a subscript, got {self.peek()!r}")
        self.take()
        sub = self.group_tokens()
        var_end = sub.index("=") if "=" in sub else len(sub)
        var = "".join(sub[:var_end])
        lo = hi = None
        if var_end < len(sub):
            rest = sub[var_end + 1 :]
            if ".." in rest:
                k = rest.index("..")
                lo = self.sub_parser(rest[:k]).whole_expr()
                hi = self.sub_parser(rest[k + 1 :]).whole_expr()
            else:
                lo = self.sub_parser(rest).whole_expr()
        if self.peek() == "^":
            self.take()
            hi = self.sub_parser(self.group_tokens()).whole_expr()
        if lo is not None and hi is None:
            raise LatexError(f"sum over {var} has a lower limit but no upper limit")
        return var, lo, hi

    def reduction(self, kind: str) -> Node:
        var, lo, hi = self.limits()
        body = self.term()
        return Node(kind, (body,), name=var, extra=(lo, hi))

    def paren(self, close: str) -> Node:
        node = self.expr()
        self.take(close)
        return node

    def condition(self, stop: set[str]) -> Node:
        rels = [self.relation()]
        while self.peek() == "," or self._is_text_and():
            if self.peek() == ",":
                self.take()
            else:
                self.take()
                self.group_tokens()
            if self.peek() in stop:
                break
            rels.append(self.relation())
        return rels[0] if len(rels) == 1 else Node("and", tuple(rels))

    _RELS = {"<": "lt", ">": "gt", r"\le": "le", r"\leq": "le", r"\ge": "ge", r"\geq": "ge",
             "=": "eq", r"\neq": "ne"}

    def relation(self) -> Node:
        left = self.expr()
        parts = []
        while self.peek() in self._RELS:
            op = self._RELS[self.take()]
            right = self.expr()
            parts.append(Node(op, (left, right)))
            left = right
        if not parts:
            raise LatexError(f"expected a relation, got {self.peek()!r}")
        return parts[0] if len(parts) == 1 else Node("and", tuple(parts))

    def cases(self) -> Node:
        if "".join(self.group_tokens()) != "cases":
            raise LatexError("only the cases environment is read")
        rows = []
        while True:
            value = self.expr()
            if self.peek() == ",":
                self.take()
            self.take("&")
            if self.peek() == r"\text" and self._text_at(self.pos).strip(" .") == "otherwise":
                self.take()
                self.group_tokens()
                if self.peek() == ".":
                    self.take()
                cond = None
            else:
                if self.peek() == r"\text" and self._text_at(self.pos).strip() == "if":
                    self.take()
                    self.group_tokens()
                cond = self.condition({r"\\", r"\end"})
                if self.peek() in (",", "."):
                    self.take()
            rows.append((value, cond))
            if self.peek() == r"\\":
                self.take()
            if self.peek() == r"\end":
                self.take()
                self.group_tokens()
                break
        return Node("cases", (), extra=rows)

    def symbol(self, base: str) -> Node:
        """A symbol with its decorations: primes, sub- and superscripts."""
        primes = ""
        while self.peek() == "'":
            self.take()
            primes += "'"
        base += primes
        sub_toks: list[str] | None = None
        sup_toks: list[str] | None = None
        transposed = False
        while self.peek() in ("_", "^"):
            if self.peek() == "^":
                grp = self._peek_group(self.pos + 1)
                if grp in _TRANSPOSE and not transposed:  # 1^T_{k}: transpose, then size
                    self.take()
                    self.group_tokens()
                    transposed = True
                    continue
                # ^2: power() reads it; (conv), (n), *, (fc2),SE are part of the name
                if not (grp and (grp[0] == "(" or grp == ["*"])) or sup_toks is not None:
                    break
                self.take()
                sup_toks = self.group_tokens()
            else:
                if sub_toks is not None:
                    break
                self.take()
                sub_toks = self.group_tokens()
        node = self._make_symbol(base, sub_toks, sup_toks)
        if node.kind == "transpose":
            transposed = not transposed
            node = node.args[0]
        return Node("transpose", (node,)) if transposed else node

    def _peek_group(self, pos: int) -> list[str] | None:
        if pos >= len(self.toks):
            return None
        p = _Parser(self.toks)
        p.pos = pos
        return p.group_tokens()

    def _make_symbol(self, base, sub_toks, sup_toks) -> Node:
        """Name = base, superscript tag and word subscripts; indices = the rest.

        ``z^{(conv)}_{n,o,m,l}`` is ``z^(conv)`` with four indices; ``C_{in}`` and ``H_c``
        keep their subscript in the name (the evaluator tries the full name first);
        ``X_c^{(n)}`` has the indices ``n, c``.
        """
        name = base
        sup_indices: list[Node] = []
        if sup_toks is not None:
            text = "".join(sup_toks)
            transposed = False
            for mark in (r"\mathsfT", "T"):  # W^{(fc1)T}, X^{(n)\mathsf T}
                if text.endswith(")" + mark):
                    text, transposed = text[: -len(mark)], True
                    break
            inner = re.fullmatch(r"\(([A-Za-z])\)", text)
            if inner:
                sup_indices = [Node("sym", name=inner.group(1))]
            else:
                name += "^" + text
        sub_text = "".join(sub_toks) if sub_toks is not None else None
        sub_indices: list[Node] = []
        if sub_toks is not None:
            if _WORDS_IN_NAMES.match(sub_text) or sub_toks[0] == r"\text":
                name += "_" + sub_text.replace(r"\text", "")
                sub_text = None
            else:
                sub_indices = self.index_list(sub_toks)
        node = Node("sym", tuple(sup_indices + sub_indices), name=name, extra=sub_text)
        return Node("transpose", (node,)) if sup_toks is not None and transposed else node

    def atom(self) -> Node:
        tok = self.take()
        if tok.isdigit():
            digits = tok
            while self.peek() is not None and self.peek().isdigit():
                digits += self.take()
            return Node("num", extra=float(digits))
        if tok in ("(", "[", r"\lbrack"):
            inner = self.paren(")" if tok == "(" else "]")
            if self.peek() == "_":  # (X_c^{(n)})_{r,s}: an entry of a matrix
                self.take()
                if inner.kind != "sym":
                    raise LatexError("only a symbol can be indexed as (A)_{i,j}")
                idx = self.index_list(self.group_tokens())
                own = list(inner.args)
                if inner.extra and not own:  # W_c: the subscript is an index here
                    own = self.index_list(list(inner.extra))
                    name = inner.name.split("_")[0]
                else:
                    name = inner.name
                return Node("sym", tuple(own + idx), name=name, extra=None)
            return inner
        if tok == "{":
            node = self.expr()
            self.take("}")
            return node
        if tok in (r"\frac", r"\dfrac", r"\tfrac"):
            num_t, den_t = self.group_tokens(), self.group_tokens()
            if num_t and num_t[0] == r"\partial":
                return self.derivative(num_t, den_t)
            num = self.sub_parser(num_t).whole_expr()
            den = self.sub_parser(den_t).whole_expr()
            return Node("div", (num, den))
        if tok == r"\lfloor":
            inner = self.expr()
            self.take(r"\rfloor")
            return Node("floor", (inner,))
        if tok == r"\sum":
            return self.reduction("sum")
        if tok in (r"\min", r"\max") and self.peek() == r"\{":  # \min\{i = 1..K_p : cond\}
            self.take()
            rest = []
            while self.peek() != ":":
                rest.append(self.take())
            self.take(":")
            if "=" not in rest or ".." not in rest:
                raise LatexError("a set minimum must write the range of its index: "
                                 "\\min\\{i = 1..K : ...\\}")
            k, j = rest.index("="), rest.index("..")
            lo = self.sub_parser(rest[k + 1 : j]).whole_expr()
            hi = self.sub_parser(rest[j + 1 :]).whole_expr()
            cond = self.condition({r"\}"})
            self.take(r"\}")
            return Node("set" + tok[1:], (cond,), name="".join(rest[:k]), extra=(lo, hi))
        if tok == r"\max" or tok == r"\min":
            if self.peek() == "_":
                return self.reduction(tok[1:])
            self.take("(")
            a = self.expr()
            self.take(",")
            b = self.expr()
            self.take(")")
            return Node("max2" if tok == r"\max" else "min2", (a, b))
        if tok == r"\arg":
            self.take(r"\max")
            return self.reduction("argmax")
        if tok in (r"\exp", r"\log", r"\cos", r"\sin"):
            return Node("fn", (self.power(),), name=tok[1:])
        if tok == r"\operatorname":
            word = "".join(self.group_tokens())
            if word != "diag":
                raise LatexError(f"\\operatorname{{{word}}} is not known")
            return Node("fn", (self.power(),), name=word)
        if tok == r"\pi":
            return Node("num", extra=float(np.pi))
        if tok == r"\mathbb":
            arg = self.group_tokens()
            if arg != ["1"]:
                raise LatexError(f"\\mathbb{{{''.join(arg)}}} is not an indicator")
            self.take("[")
            cond = self.condition({"]"})
            self.take("]")
            return Node("indicator", (cond,))
        if tok == r"\#":
            if self.peek() == r"\{":
                self.take()
                var = self.take()
                self.take(":")
                cond = self.condition({r"\}"})
                self.take(r"\}")
                return Node("count", (cond,), name=var, extra=(None, None))
            if self.peek() != r"\text":
                raise LatexError("\\# must be followed by \\{n : ...\\} or \\text{...}")
            self.take()
            return self.symbol("#" + "".join(self.group_tokens()))
        if tok == r"\begin":
            self.pos -= 1
            self.take(r"\begin")
            return self.cases()
        if tok == r"\text":
            word = "".join(self.group_tokens())
            if not re.fullmatch(r"[A-Za-z]+", word):
                raise LatexError(f"\\text{{{word}}} is prose, not an expression")
            return self.symbol(word)
        if tok in (r"\tilde", r"\check", r"\hat", r"\bar", r"\mathsf", r"\mathbf"):
            inner = "".join(self.group_tokens())
            if tok.startswith(r"\math"):
                return self.symbol(f"{tok}{{{inner}}}")
            return self.symbol(f"{tok} {inner}")
        if tok == r"\Delta" and self.peek() is not None and re.fullmatch(r"[A-Za-z]", self.peek()):
            return self.symbol(r"\Delta " + self.take())
        if re.fullmatch(r"[A-Za-z]", tok) or tok in _GREEK:
            node = self.symbol(tok)
            # r(o,p,q): a function written with its arguments (only a bare symbol)
            if not node.args and node.extra is None and self.peek() == "(" and self._has_comma():
                self.take("(")
                args = [self.expr()]
                while self.peek() == ",":
                    self.take()
                    args.append(self.expr())
                self.take(")")
                return Node("apply", tuple(args), name=node.name)
            return node
        raise LatexError(f"unexpected token {tok!r}")

    def _has_comma(self) -> bool:
        depth = 0
        for tok in self.toks[self.pos :]:
            depth += tok in ("(", "{", "[")
            depth -= tok in (")", "}", "]")
            if depth == 0:
                return False
            if depth == 1 and tok == ",":
                return True
        return False

    def derivative(self, num_t: list[str], den_t: list[str]) -> Node:
        """``\\frac{\\partial L}{\\partial w_{o,c,i,j}}``: a symbol named ``∂L/∂w``."""
        top = self.sub_parser(num_t[1:])
        bottom = self.sub_parser(den_t[1:])
        f = top.atom()
        v = bottom.atom()
        if not (top.at_end() and bottom.at_end()) or f.kind != "sym" or v.kind != "sym":
            raise LatexError(f"derivative {''.join(num_t)}/{''.join(den_t)} not understood")
        return Node("sym", f.args + v.args, name=f"d{f.name}/d{v.name}")


# --------------------------------------------------------------------------- displays

_SIZE_COMMANDS: set[str] = set()  # commands allowed in a range list (none: sizes are letters)


def _split_top(tokens: list[str]) -> list[list[str]]:
    """Split at ``\\quad``/``\\qquad`` outside braces and environments."""
    parts, cur, depth = [], [], 0
    for tok in tokens:
        if tok in ("{", r"\begin"):
            depth += 1
        elif tok in ("}", r"\end"):
            depth -= 1
        if depth == 0 and tok in (r"\quad", r"\qquad"):
            parts.append(cur)
            cur = []
        else:
            cur.append(tok)
    parts.append(cur)
    out = []
    for part in parts:
        while part and part[-1] in (",", "."):
            part = part[:-1]
        while part and part[0] in (",",):
            part = part[1:]
        if part:
            out.append(part)
    return out


def _is_range_list(tokens: list[str]) -> bool:
    """``n = 1..N, ...`` or ``i, j = 1..K``: an index, then ``=`` or ``,``, and ``..``."""
    head = tokens[:3]
    starts = len(head) >= 2 and re.fullmatch(r"[A-Za-z]", head[0]) is not None and (
        head[1] in ("=", ",") or head[1:3] == ["'", "="])
    return starts and ".." in tokens and not any(t.startswith("\\") and t not in (r"\ ",)
                                                  for t in tokens if t not in _SIZE_COMMANDS)


def _parse_ranges(tokens: list[str]) -> list[tuple[str, Node, Node]]:
    """``n = 1..N, c = 1..C_{in}, i, j = 1..K`` -> [(var, lo, hi), ...]."""
    out = []
    pending: list[str] = []
    i = 0
    items = []
    depth, cur = 0, []
    for tok in tokens:
        depth += tok in ("{", "(")
        depth -= tok in ("}", ")")
        if tok == "," and depth == 0:
            items.append(cur)
            cur = []
        else:
            cur.append(tok)
    items.append(cur)
    for item in items:
        if "=" not in item:
            name = "".join(item)
            if not re.fullmatch(r"[A-Za-z]'?", name):
                raise LatexError(f"range list item {name!r} is not an index")
            pending.append(name)
            continue
        k = item.index("=")
        var = "".join(item[:k])
        rest = item[k + 1 :]
        if ".." not in rest:
            raise LatexError(f"range {''.join(item)!r} has no '..'")
        j = rest.index("..")
        lo = _Parser(rest[:j]).whole_expr()
        hi = _Parser(rest[j + 1 :]).whole_expr()
        for v in pending + [var]:
            out.append((v, lo, hi))
        pending = []
        i += 1
    if pending:
        raise LatexError(f"indices {pending} have no range")
    return out


def _split_commas(tokens: list[str]) -> list[list[str]]:
    items, cur, depth = [], [], 0
    for tok in tokens:
        depth += tok in ("{", r"\begin")
        depth -= tok in ("}", r"\end")
        if tok == "," and depth == 0:
            items.append(cur)
            cur = []
        else:
            cur.append(tok)
    return [item for item in items + [cur] if item]


def _real_space(p: _Parser) -> list[Node]:
    p.take(r"\mathbb")
    if p.group_tokens() != ["R"]:
        raise LatexError("a shape statement must name \\mathbb{R}")
    p.take("^")
    dims = [[]]
    for tok in p.group_tokens():
        if tok == r"\times":
            dims.append([])
        else:
            dims[-1].append(tok)
    return [_Parser(d).whole_expr() for d in dims]


def _block_matrix(p: _Parser) -> list[list[Node]]:
    p.take(r"\begin")
    if "".join(p.group_tokens()) != "bmatrix":
        raise LatexError("only bmatrix block matrices are read")
    rows: list[list[Node]] = [[]]
    while True:
        tok = p.peek()
        if tok == r"\end":
            p.take()
            p.group_tokens()
            return rows
        if tok == r"\\":
            p.take()
            rows.append([])
        elif tok == "&":
            p.take()
        elif tok in (r"\vdots", r"\cdots"):
            p.take()
            rows[-1].append(Node("ellipsis"))
        else:
            rows[-1].append(p.power())


def _parse_shapes(tokens: list[str]) -> list[Shape]:
    """``X \\in \\mathbb{R}^{...}`` items, comma-separated, with an optional block matrix."""
    shapes = []
    for item in _split_commas(tokens):
        p = _Parser(item)
        subject = p.power()
        blocks = None
        if p.peek() == "=":
            p.take()
            blocks = _block_matrix(p)
        p.take(r"\in")
        dims = _real_space(p)
        seed = None
        if p.peek() == "=":
            p.take()
            seed = _real_space(p)
        if not p.at_end():
            raise LatexError(f"unexpected {p.peek()!r} in a shape statement")
        shapes.append(Shape(subject, dims, seed, blocks))
    return shapes


_LINE_ENVIRONMENTS = ("gathered", "aligned")
_CONTINUES = {r"\cdot", r"\times", "+", "-", "="}


def _unwrap_lines(tokens: list[str]) -> list[str]:
    """Read a display broken over lines (``gathered``/``aligned``) as one line.

    The site breaks wide equations with ``\\begin{gathered} ... \\\\ ... \\end{gathered}``.
    A line that starts with an operator (``\\cdot``, ``=``, ...) continues the expression
    above it; any other line is a new clause, as if separated by ``\\qquad``. Alignment
    marks ``&`` are dropped. Environments inside the display (``cases``) are left alone.
    """
    out: list[str] = []
    depth = 0  # environments opened inside a line environment
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in (r"\begin", r"\end") and i + 1 < len(tokens) and tokens[i + 1] == "{":
            j = tokens.index("}", i)
            name = "".join(tokens[i + 2 : j])
            if name in _LINE_ENVIRONMENTS and depth == 0:
                i = j + 1
                continue
            depth += 1 if tok == r"\begin" else -1
            out.extend(tokens[i : j + 1])
            i = j + 1
            continue
        if depth == 0 and tok == "&":
            i += 1
            continue
        if depth == 0 and tok == r"\\":
            nxt = next((t for t in tokens[i + 1 :] if t != "&"), None)
            if nxt not in _CONTINUES:
                out.append(r"\qquad")
            i += 1
            continue
        out.append(tok)
        i += 1
    return out


def parse_display(tag: str, latex: str) -> Display:
    """Parse one display (the text between ``$$`` and ``$$``) into its clauses.

    Clauses are the parts between top-level ``\\quad``/``\\qquad``: a chain ``a = b = c``,
    a range list ``n = 1..N, o = 1..C_{out}``, or a shape statement.

    Parameters
    ----------
    tag : str
        The equation number, for messages.
    latex : str
        The display's LaTeX.

    Returns
    -------
    Display

    A clause outside the subset is kept with kind ``"error"`` and the parser's message; a
    shape statement ``\\in \\mathbb{R}^{...}`` is kept, as kind ``"shape"``, not parsed.
    The caller decides what an unread clause means (for the check: a failure, unless the
    clause is exempted with a reason).
    """
    clauses = []
    for part in _split_top(_unwrap_lines(tokenize(latex))):
        text = " ".join(part)
        if r"\in" in part and r"\mathbb" in part:
            try:
                shapes = _parse_shapes(part)
            except LatexError as err:
                clauses.append(Clause(text, kind="error", error=str(err)))
            else:
                clauses.append(Clause(text, kind="shape", shapes=shapes))
        elif _is_range_list(part):
            clauses.append(Clause(text, ranges=_parse_ranges(part), kind="ranges"))
        else:
            try:
                p = _Parser(part)
                terms = p.chain()
                if not p.at_end():
                    raise LatexError(f"cannot read from {p.peek()!r}")
            except LatexError as err:
                clauses.append(Clause(text, kind="error", error=str(err)))
            else:
                clauses.append(Clause(text, terms=terms))
    return Display(tag, clauses)


# --------------------------------------------------------------------------- evaluation

MAX_AXES = 24


@dataclass
class Tensor:
    """A named array and the number of its first entry in the maths.

    ``base`` is 1 (the book's indices), 0 (time steps), or one number per axis (a table
    over sizes that start elsewhere, e.g. ``H_in = 6..9``).
    """

    values: np.ndarray
    base: int | tuple[int, ...] = 1


class Evaluator:
    """Evaluate parsed expressions on numbers.

    Every index variable in scope is an ``arange`` along its own axis (of ``MAX_AXES``),
    so a whole equation is evaluated for all its free indices at once; a sum or a max
    adds an axis and reduces it.

    Parameters
    ----------
    sizes : dict of str to number
        ``N``, ``C_{in}`` (as ``C_in``), ``K``, ...: scalars by their LaTeX name.
    tensors : dict of str to Tensor
        ``z^(conv)``, ``x``, ``dL/dw^(conv)``, ...
    lets : dict of str to (params, Node)
        Names defined by another clause of the same display (``M_n``, ``r(o,p,q)``).
    default_ranges : dict of str to (lo, hi)
        Ranges of reduction variables written without limits (``\\sum_a``, ``\\arg\\max_k``).
    """

    def __init__(self, sizes, tensors, lets=None, default_ranges=None):
        self.sizes = dict(sizes)
        self.tensors = dict(tensors)
        self.lets = dict(lets or {})
        self.default_ranges = dict(default_ranges or {})

    @staticmethod
    def axis_values(values: np.ndarray, axis: int) -> np.ndarray:
        shape = [1] * MAX_AXES
        shape[axis] = len(values)
        return np.asarray(values, dtype=np.float64).reshape(shape)

    def value(self, node: Node, env: dict, depth: int):
        k = node.kind
        if k == "num":
            return node.extra
        if k == "sym":
            return self.symbol(node, env, depth)
        if k == "apply":
            return self.let(node.name, node.args, env, depth)
        if k in ("add", "sub", "mul", "div", "mod", "pow"):
            a = self.value(node.args[0], env, depth)
            b = self.value(node.args[1], env, depth)
            with np.errstate(divide="ignore", invalid="ignore"):
                return {
                    "add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
                    "div": lambda: np.divide(a, b), "mod": lambda: np.mod(a, b),
                    "pow": lambda: np.power(a, b),
                }[k]()
        if k == "neg":
            return -self.value(node.args[0], env, depth)
        if k == "floor":
            return np.floor(self.value(node.args[0], env, depth))
        if k == "fn":
            a = self.value(node.args[0], env, depth)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                return getattr(np, node.name)(a)
        if k in ("max2", "min2"):
            a, b = (self.value(x, env, depth) for x in node.args)
            return np.maximum(a, b) if k == "max2" else np.minimum(a, b)
        if k in ("sum", "max", "min", "argmax", "count", "setmin", "setmax"):
            return self.reduce(node, env, depth)
        if k == "indicator":
            return self.truth(node.args[0], env, depth).astype(np.float64)
        if k == "cases":
            return self.cases(node, env, depth)
        if k == "transpose":
            raise LatexError("a transpose is outside the index-form subset")
        raise LatexError(f"cannot evaluate a {k!r} node")

    def truth(self, node: Node, env: dict, depth: int) -> np.ndarray:
        ops = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
               "eq": np.equal, "ne": np.not_equal}
        if node.kind == "and":
            out = np.asarray(True)
            for part in node.args:
                out = out & self.truth(part, env, depth)
            return out
        if node.kind not in ops:
            raise LatexError(f"expected a condition, got {node!r}")
        a = self.value(node.args[0], env, depth)
        b = self.value(node.args[1], env, depth)
        return np.asarray(ops[node.kind](a, b))

    def cases(self, node: Node, env: dict, depth: int):
        conds, values = [], []
        otherwise = None
        for value, cond in node.extra:
            if cond is None:
                otherwise = self.value(value, env, depth)
            else:
                conds.append(self.truth(cond, env, depth))
                values.append(self.value(value, env, depth))
        if otherwise is None:
            otherwise = np.nan  # outside every case: undefined
        out = np.asarray(otherwise, dtype=np.float64)
        for cond, value in reversed(list(zip(conds, values, strict=True))):
            out = np.where(cond, value, out)
        return out

    def bounds(self, var: str, lo: Node | None, hi: Node | None, env: dict) -> tuple[int, int]:
        if lo is None:
            if var not in self.default_ranges:
                raise LatexError(f"the range of {var} is not written and has no default")
            return self.default_ranges[var]
        lo_v = np.asarray(self.value(lo, env, 0))
        hi_v = np.asarray(self.value(hi, env, 0))
        if lo_v.size != 1 or hi_v.size != 1:
            raise LatexError(f"the limits of {var} depend on another index")
        lo_i, hi_i = float(lo_v.ravel()[0]), float(hi_v.ravel()[0])
        if lo_i != round(lo_i) or hi_i != round(hi_i):
            raise LatexError(f"the limits of {var} are not integers: {lo_i}..{hi_i}")
        return int(lo_i), int(hi_i)

    def reduce(self, node: Node, env: dict, depth: int):
        if depth >= MAX_AXES:
            raise LatexError("too many nested indices")
        lo, hi = self.bounds(node.name, *node.extra, env)
        vals = self.axis_values(np.arange(lo, hi + 1), depth)
        inner = {**env, node.name: vals}
        if node.kind in ("setmin", "setmax"):  # the least (largest) index that satisfies it
            holds = self.truth(node.args[0], inner, depth + 1)
            holds = np.broadcast_to(holds, np.broadcast_shapes(holds.shape, vals.shape))
            if node.kind == "setmin":
                best = np.where(holds, vals, np.inf).min(axis=depth, keepdims=True)
            else:
                best = np.where(holds, vals, -np.inf).max(axis=depth, keepdims=True)
            return np.where(np.isfinite(best), best, np.nan)  # empty set: undefined
        if node.kind == "count":
            body = self.truth(node.args[0], inner, depth + 1).astype(np.float64)
        else:
            body = np.asarray(self.value(node.args[0], inner, depth + 1), dtype=np.float64)
        body = np.broadcast_to(body, np.broadcast_shapes(body.shape, vals.shape))
        if hi < lo:
            if node.kind in ("sum", "count"):
                return 0.0
            raise LatexError(f"{node.kind} over an empty range of {node.name}")
        if node.kind in ("sum", "count"):
            return body.sum(axis=depth, keepdims=True)
        if node.kind == "max":
            return body.max(axis=depth, keepdims=True)
        if node.kind == "min":
            return body.min(axis=depth, keepdims=True)
        return np.argmax(body, axis=depth, keepdims=True).astype(np.float64) + lo

    def let(self, name: str, args, env: dict, depth: int):
        params, body = self.lets[name]
        if len(args) != len(params):
            raise LatexError(f"{name} takes {len(params)} indices, got {len(args)}")
        inner = dict(env)
        for p, a in zip(params, args, strict=True):
            inner[p] = self.value(a, env, depth)
        return self.value(body, inner, depth)

    def symbol(self, node: Node, env: dict, depth: int):
        name, idx = node.name, node.args
        full = f"{name}_{node.extra}" if node.extra is not None else name
        if (not idx or node.extra is not None) and full in env:
            return env[full]  # a size that is a free variable (H_c on a grid of sizes)
        if node.extra is not None and full in self.sizes:
            return self.sizes[full]
        if not idx and name in env:
            return env[name]
        if not idx and name in self.sizes:
            return self.sizes[name]
        if name in self.lets and (not idx or len(idx) == len(self.lets[name][0])):
            params = self.lets[name][0]
            if idx:
                return self.let(name, idx, env, depth)
            return self.let(name, [Node("sym", name=p) for p in params], env, depth)
        if node.extra is not None and full in self.tensors and not idx:
            return self.tensors[full].values
        if name in self.tensors:
            return self.entry(self.tensors[name], name, idx, env, depth)
        raise LatexError(f"unknown symbol {full!r}")

    def entry(self, tensor: Tensor, name: str, idx, env: dict, depth: int):
        arr = tensor.values
        if len(idx) != arr.ndim:
            raise LatexError(f"{name} has {arr.ndim} indices, the equation gives {len(idx)}")
        if not idx:
            return arr
        ints, valid = self.index_of(tensor, idx, env, depth)
        return np.where(valid, arr[tuple(ints)].astype(np.float64), np.nan)

    def index_of(self, tensor: Tensor, idx, env: dict, depth: int):
        """0-based integer indices of the entries ``idx`` names, and which are valid."""
        arr = tensor.values
        bases = tensor.base if isinstance(tensor.base, tuple) else (tensor.base,) * arr.ndim
        raw = np.broadcast_arrays(*[np.asarray(self.value(i, env, depth), dtype=np.float64)
                                    for i in idx])
        valid = np.ones(raw[0].shape, dtype=bool)
        ints = []
        for axis, r in enumerate(raw):
            with np.errstate(invalid="ignore"):
                i0 = r - bases[axis]
                ok = np.isfinite(i0) & (i0 == np.round(i0)) & (i0 >= 0) & (i0 < arr.shape[axis])
            valid &= ok
            ints.append(np.where(ok, i0, 0).astype(np.intp))
        return ints, valid


class MatrixEvaluator(Evaluator):
    """Evaluate a matrix-form equation (``Z = A W^T + 1 b^T``) for given index values.

    Indices are plain numbers here (``n`` of ``X_{col}^{(n)}``); a tensor indexed by fewer
    indices than it has axes is the matrix (or column vector) that remains. Juxtaposed
    matrices multiply as matrices, ``^T`` transposes, ``\\mathbf 1_k`` is a column of ``k``
    ones (``\\mathbf 1`` without a size takes the size its product needs), ``diag`` makes a
    diagonal matrix and ``^{-1}`` of a square matrix inverts it. Sums of matrices must
    agree in shape: nothing is broadcast, so a missing ``\\mathbf 1^T`` is an error.
    """

    ONES = "\\mathbf{1}"

    def value(self, node: Node, env: dict, depth: int = 0):
        k = node.kind
        if k == "sym":
            return self.msymbol(node, env)
        if k == "transpose":
            v = self.value(node.args[0], env)
            return v if isinstance(v, _Ones) else np.asarray(v).T
        if k == "mul":
            return self.product(self.value(node.args[0], env), self.value(node.args[1], env))
        if k in ("add", "sub"):
            a, b = (self.dense(self.value(x, env)) for x in node.args)
            if np.ndim(a) and np.ndim(b) and np.shape(a) != np.shape(b):
                raise LatexError(f"adding a {np.shape(a)} matrix to a {np.shape(b)} matrix")
            return a + b if k == "add" else a - b
        if k == "pow":
            a = self.dense(self.value(node.args[0], env))
            e = self.value(node.args[1], env)
            if np.ndim(a) == 2 and a.shape[0] == a.shape[1] > 1 and e == -1:
                return np.linalg.inv(a)
            if np.ndim(a) == 2 and min(a.shape) > 1:
                raise LatexError("a matrix power other than the inverse")
            return np.power(a, e)
        if k == "fn" and node.name == "diag":
            v = self.dense(self.value(node.args[0], env))
            if np.ndim(v) != 2 or v.shape[1] != 1:
                raise LatexError("diag of something that is not a column vector")
            return np.diag(v[:, 0])
        if k == "sum":
            lo, hi = self.bounds(node.name, *node.extra, env)
            total = 0.0
            for value in range(lo, hi + 1):
                total = total + self.dense(self.value(node.args[0], {**env, node.name: value}))
            return total
        if k in ("max2", "min2", "fn", "neg", "div", "num", "floor"):
            if k == "num":
                return node.extra
            args = [self.dense(self.value(a, env)) for a in node.args]
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                if k in ("max2", "min2"):
                    return np.maximum(*args) if k == "max2" else np.minimum(*args)
                if k == "fn":
                    return getattr(np, node.name)(args[0])
                if k == "neg":
                    return -args[0]
                if k == "floor":
                    return np.floor(args[0])
                if np.ndim(args[1]):
                    raise LatexError("division by a matrix")
                return args[0] / args[1]
        if k == "apply":
            params, body = self.lets[node.name]
            inner = {**env, **{p: self.value(a, env) for p, a in zip(params, node.args,
                                                                       strict=True)}}
            return self.value(body, inner)
        raise LatexError(f"cannot evaluate a {k!r} node as a matrix")

    @staticmethod
    def dense(v):
        if isinstance(v, _Ones):
            raise LatexError("a vector of ones whose size is not written or implied")
        return v

    def product(self, a, b):
        if isinstance(a, _Ones) and isinstance(b, _Ones):
            raise LatexError("a product of two unsized vectors of ones")
        if isinstance(b, _Ones):
            b = np.ones((np.shape(a)[-1] if np.ndim(a) == 2 else 1, 1))
        if isinstance(a, _Ones):
            a = np.ones((1, np.shape(b)[0] if np.ndim(b) == 2 else 1))
        if np.ndim(a) == 2 and np.ndim(b) == 2:
            if a.shape[1] != b.shape[0]:
                raise LatexError(f"product of a {a.shape} and a {b.shape} matrix")
            return a @ b
        return a * b

    def msymbol(self, node: Node, env: dict):
        name = node.name
        full = f"{name}_{node.extra}" if node.extra is not None else name
        # W_c is both a width and, in chapter 2, the filter matrix of channel c: inside
        # a sum over c it is the matrix, elsewhere (1^T_{H_c W_c}) the width.
        bound = all(a.kind == "sym" and a.name in env for a in node.args)
        if node.extra is not None and full in self.sizes and not (
                node.args and bound and name in self.tensors):
            return self.sizes[full]
        idx = [self.value(i, env) for i in node.args]
        if name == self.ONES:
            if not idx:
                return _Ones()
            return np.ones((int(idx[0]), 1))
        if not idx and full in env:
            return env[full]
        if not idx and name in self.sizes:
            return self.sizes[name]
        if name in self.lets:
            params, body = self.lets[name]
            return self.value(body, {**env, **dict(zip(params, idx, strict=True))})
        if name not in self.tensors:
            raise LatexError(f"unknown symbol {full!r}")
        return self.slice(self.tensors[name], name, idx)

    @staticmethod
    def slice(tensor: Tensor, name: str, idx: list):
        arr = tensor.values
        if len(idx) > arr.ndim or arr.ndim - len(idx) > 2:
            raise LatexError(f"{name} has {arr.ndim} axes; {len(idx)} indices leave no matrix")
        bases = tensor.base if isinstance(tensor.base, tuple) else (tensor.base,) * arr.ndim
        pos = []
        for axis, i in enumerate(idx):
            i0 = float(i) - bases[axis]
            if i0 != round(i0) or not 0 <= i0 < arr.shape[axis]:
                raise LatexError(f"{name}: index {i} outside 1..{arr.shape[axis]}")
            pos.append(int(i0))
        out = np.asarray(arr[tuple(pos)], dtype=np.float64)
        return out[:, None] if out.ndim == 1 else out


class _Ones:
    """``\\mathbf 1`` written without its length: it takes the one its product needs."""
