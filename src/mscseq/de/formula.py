"""Design formulas: mscseq's own tokenizer and parser, so that nothing a user writes is evaluated.

A formula is text from the command line or from a sheet anyone can edit. formulaic evaluates every
term of a formula as Python, so mscseq never hands it the user's text: it parses the text into the
small grammar below, refuses everything else with a one-line :class:`~mscseq.errors.MscseqError`,
and rebuilds the formula from the parsed tree (:meth:`Formula.to_formulaic`) with column names that
the caller has checked are sheet columns.

Grammar (Wilkinson–Rogers notation, with formulaic's and R's precedence)::

    formula := "~" sum
    sum     := term (("+" | "-") term)*
    term    := ("+" | "-") term | product
    product := inter ("*" inter)*
    inter   := atom (":" atom)*
    atom    := name | "C(" name ")" | "0" | "1" | "(" sum ")"
    name    := [A-Za-z_][A-Za-z0-9_]*  |  "`" any characters but a backtick or control characters "`"

``a:b`` is the interaction, ``a*b`` is ``a + b + a:b``, ``- term`` removes a term (``- 1`` or
``+ 0`` the intercept), ``C(name)`` codes a numeric column as categorical (one level per distinct
value). Column names that are not plain identifiers (spaces, dots, dashes, non-ASCII letters) are
written in backticks: ``~ `cell type` + condition``. Function calls other than ``C(...)``,
attributes, subscripts, strings, numbers other than 0 and 1, ``**``, ``^``, ``/``, ``|``, ``%in%``
and R's ``.`` are refused.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import Union

from mscseq.errors import MscseqError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9][0-9A-Za-z_.]*")
_OPERATORS = "~+-*:()"
ALLOWED = "sheet column names, + - * :, 0, 1, parentheses and C(column)"
#: Limits that keep parsing and model building bounded (a design has a handful of terms)
MAX_LENGTH = 10_000
MAX_TOKENS = 400
MAX_DEPTH = 50


@dataclass(frozen=True)
class Name:
    """A sheet column."""

    name: str


@dataclass(frozen=True)
class Categorical:
    """``C(name)``: the column coded as categorical."""

    name: str


@dataclass(frozen=True)
class Const:
    """``0`` or ``1`` (intercept)."""

    value: int


@dataclass(frozen=True)
class Paren:
    """A parenthesised sub-formula (kept: formulaic treats ``(0 + a)`` unlike ``0 + a``)."""

    inner: Node


@dataclass(frozen=True)
class Unary:
    """``+ term`` or ``- term``."""

    op: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    """``left op right`` with ``op`` one of ``+ - * :``."""

    op: str
    left: Node
    right: Node


Node = Union[Name, Categorical, Const, Paren, Unary, Binary]  # noqa: UP007  (used at runtime)


@dataclass(frozen=True)
class _Token:
    kind: str  # "op", "name", "const", "C(" or "end"
    text: str  # operator, column name, "0"/"1"
    pos: int  # 0-based index in the formula text


def _plain(name: str) -> bool:
    """True when ``name`` can be written without backticks."""
    return bool(_IDENT.fullmatch(name)) and not keyword.iskeyword(name)


def quote_name(name: str) -> str:
    """``name`` as written in a formula: bare when a plain identifier, else in backticks.

    Parameters
    ----------
    name
        A sheet column name.

    Returns
    -------
    str
        The name, backtick-quoted unless it is a plain identifier.

    Raises
    ------
    MscseqError
        When the name holds a backtick or a control character and so cannot be written in a formula.

    """
    if _plain(name):
        return name
    if "`" in name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        msg = f"column {name!r} cannot be used in a design formula (backtick or control character in its name); rename it"
        raise MscseqError(msg)
    return f"`{name}`"


@dataclass(frozen=True)
class Formula:
    """A parsed design formula.

    Attributes
    ----------
    text
        The formula as written.
    rhs
        The parsed right-hand side.

    """

    text: str
    rhs: Node

    @property
    def variables(self) -> list[str]:
        """Column names in order of first appearance."""
        out: list[str] = []
        for node in _walk(self.rhs):
            if isinstance(node, (Name, Categorical)) and node.name not in out:
                out.append(node.name)
        return out

    @property
    def categorical(self) -> set[str]:
        """Columns written as ``C(name)``."""
        return {n.name for n in _walk(self.rhs) if isinstance(n, Categorical)}

    @property
    def bare(self) -> set[str]:
        """Columns written as plain names (numeric columns are then continuous covariates)."""
        return {n.name for n in _walk(self.rhs) if isinstance(n, Name)}

    def additive_names(self) -> list[str] | None:
        """Names of a ``~ a + b + ...`` formula of distinct plain names (no parentheses), else None."""
        names: list[str] = []
        node = self.rhs
        while isinstance(node, Binary) and node.op == "+" and isinstance(node.right, Name):
            names.append(node.right.name)
            node = node.left
        if not isinstance(node, Name):
            return None
        names.append(node.name)
        names.reverse()
        return names if len(set(names)) == len(names) else None

    def to_formulaic(self) -> str:
        """The formula rebuilt from the parsed tree, for formulaic.

        Only operators, ``0``/``1``, parentheses, ``C(...)`` and column names (in backticks unless
        plain identifiers) appear in it, in the structure the user wrote.

        Returns
        -------
        str
            Formula text such as ``"~ donor + `cell type`"``.

        """
        return "~ " + _emit(self.rhs)


def _walk(node: Node):
    yield node
    if isinstance(node, Paren):
        yield from _walk(node.inner)
    elif isinstance(node, Unary):
        yield from _walk(node.operand)
    elif isinstance(node, Binary):
        yield from _walk(node.left)
        yield from _walk(node.right)


def _emit(node: Node) -> str:
    if isinstance(node, Name):
        return quote_name(node.name)
    if isinstance(node, Categorical):
        return f"C({quote_name(node.name)})"
    if isinstance(node, Const):
        return str(node.value)
    if isinstance(node, Paren):
        return f"({_emit(node.inner)})"
    if isinstance(node, Unary):
        return f"{node.op} {_emit(node.operand)}"
    return f"{_emit(node.left)} {node.op} {_emit(node.right)}"


class _Error(Exception):
    """A syntax error at a position (turned into an MscseqError naming option and text)."""

    def __init__(self, pos: int, what: str) -> None:
        super().__init__(what)
        self.pos = pos
        self.what = what


def _describe(ch: str) -> str:
    if ch in "\"'":
        return "quoted strings are not allowed"
    if ch == ".":
        return "'.' is not allowed (R's 'all other columns' and attribute access are not supported; write a column name with dots in backticks, e.g. `cell.type`)"
    if ch in "/|^%[]{},;=<>!&@$#?\\":
        return f"{ch!r} is not allowed"
    if ch in "\n\r\t\v\f" or ord(ch) < 32 or ord(ch) == 127:
        return f"control character {ch!r} is not allowed"
    if ch.isalpha():
        return (
            f"{ch!r} is not allowed outside backticks (write non-ASCII column names in backticks)"
        )
    return f"{ch!r} is not allowed"


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(text)
    if n > MAX_LENGTH:
        raise _Error(MAX_LENGTH, f"the formula is too long (more than {MAX_LENGTH:,} characters)")
    while i < n:
        if len(tokens) > MAX_TOKENS:
            raise _Error(i, f"the formula is too long (more than {MAX_TOKENS} tokens)")
        ch = text[i]
        if ch in " \t":
            i += 1
            continue
        if ch == "*" and text.startswith("**", i):
            raise _Error(
                i, "'**' (power) is not allowed; write the interactions out with ':' and '*'"
            )
        if ch in _OPERATORS:
            tokens.append(_Token("op", ch, i))
            i += 1
            continue
        if ch == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise _Error(i, "unterminated backtick-quoted name")
            name = text[i + 1 : end]
            if not name.strip():
                raise _Error(i, "empty backtick-quoted name")
            bad = next((c for c in name if ord(c) < 32 or ord(c) == 127), None)
            if bad is not None:
                raise _Error(i, f"control character {bad!r} in a backtick-quoted name")
            tokens.append(_Token("name", name, i))
            i = end + 1
            continue
        m = _NUMBER.match(text, i)
        if m:
            if m.group() not in ("0", "1"):
                raise _Error(i, f"number {m.group()!r}: only 0 and 1 (the intercept) are allowed")
            tokens.append(_Token("const", m.group(), i))
            i = m.end()
            continue
        m = _IDENT.match(text, i)
        if m:
            j = m.end()
            while j < n and text[j] in " \t":
                j += 1
            after = text[j] if j < n else ""
            if after == "(":
                if m.group() != "C":
                    raise _Error(
                        i,
                        f"function call {m.group()}(...) is not allowed (the only transform is C(column))",
                    )
                tokens.append(_Token("C(", "C(", i))
                i = j + 1
                continue
            # True, False and None may be column names (written in backticks for formulaic)
            if keyword.iskeyword(m.group()) and not m.group()[0].isupper():
                raise _Error(i, f"Python keyword {m.group()!r} is not allowed")
            if after in (".", "["):
                raise _Error(
                    j,
                    "attribute access and subscripts are not allowed"
                    + (
                        " (write a column name with dots in backticks, e.g. `cell.type`)"
                        if after == "."
                        else ""
                    ),
                )
            tokens.append(_Token("name", m.group(), i))
            i = m.end()
            continue
        raise _Error(i, _describe(ch))
    tokens.append(_Token("end", "", n))
    return tokens


class _Parser:
    """Recursive descent over the tokens (grammar in the module docstring)."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def _nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Error(self.tok.pos, f"nested more than {MAX_DEPTH} levels deep")

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def _take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _is_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def formula(self) -> Node:
        if not self._is_op("~"):
            raise _Error(self.tok.pos, "a design formula starts with '~'")
        self._take()
        node = self.sum()
        if self.tok.kind != "end":
            raise self._unexpected("an operator (+ - * :) or the end of the formula")
        return node

    def sum(self) -> Node:
        node = self.term()
        while self._is_op("+", "-"):
            op = self._take().text
            node = Binary(op, node, self.term())
        return node

    def term(self) -> Node:
        if self._is_op("+", "-"):
            op = self._take().text
            self._nest()
            node = Unary(op, self.term())
            self.depth -= 1
            return node
        return self.product()

    def product(self) -> Node:
        node = self.inter()
        while self._is_op("*"):
            self._take()
            node = Binary("*", node, self.inter())
        return node

    def inter(self) -> Node:
        node = self.atom()
        while self._is_op(":"):
            self._take()
            node = Binary(":", node, self.atom())
        return node

    def atom(self) -> Node:
        tok = self.tok
        if tok.kind == "name":
            self._take()
            return Name(tok.text)
        if tok.kind == "const":
            self._take()
            return Const(int(tok.text))
        if tok.kind == "C(":
            self._take()
            if self.tok.kind != "name":
                raise self._unexpected("one column name inside C(...)")
            name = self._take().text
            if not self._is_op(")"):
                raise self._unexpected("')' closing C(...) (C takes one column name)")
            self._take()
            return Categorical(name)
        if self._is_op("("):
            self._take()
            self._nest()
            inner = self.sum()
            self.depth -= 1
            if not self._is_op(")"):
                raise self._unexpected(f"')' closing the '(' at character {tok.pos + 1}")
            self._take()
            return Paren(inner)
        raise self._unexpected("a column name, 0, 1 or '('")

    def _unexpected(self, expected: str) -> _Error:
        tok = self.tok
        if tok.kind == "end":
            return _Error(tok.pos, f"the formula ends where {expected} is expected")
        return _Error(tok.pos, f"{tok.text!r} where {expected} is expected")


def parse_formula(text: str, *, option: str = "--design") -> Formula:
    """Parse a design formula into mscseq's grammar, refusing anything else.

    Parameters
    ----------
    text
        The formula, e.g. ``"~ donor + condition"``.
    option
        Where the formula came from, for messages (``--design``, ``--reduced``, a sheet column).

    Returns
    -------
    Formula
        The parsed formula.

    Raises
    ------
    MscseqError
        One line naming the option, the formula and the offending token and its position.

    """
    shown = repr(text if len(str(text)) <= 200 else str(text)[:200] + "...")
    if not isinstance(text, str):
        msg = f"{option} {shown}: a design formula is text such as '~ donor + condition'"
        raise MscseqError(msg)
    try:
        rhs = _Parser(_tokenize(text)).formula()
    except _Error as err:
        if err.what.startswith("a design formula starts"):
            msg = f"{option} {shown}: a design formula starts with '~', e.g. '~ donor + condition'"
        else:
            msg = (
                f"{option} {shown}: not a valid formula: {err.what} (character {err.pos + 1}); "
                f"a formula uses only {ALLOWED}"
            )
        raise MscseqError(msg) from None
    return Formula(text, rhs)
