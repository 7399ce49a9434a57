"""The spec's expression language: ``$name`` arithmetic, functions, comparisons and conditions
(docs/SPEC.md, "Expressions"). A small recursive-descent parser and an evaluator over its tree;
never Python's ``eval``.

Values are integers, floats, booleans and strings (a parameter's value, or a quoted literal).
Grammar, loosest first::

    expr  := and ('or' and)*
    and   := not ('and' not)*
    not   := 'not' not | cmp
    cmp   := sum (('==' | '!=' | '<' | '<=' | '>' | '>=') sum)?
    sum   := term (('+' | '-') term)*
    term  := unary (('*' | '/' | '//' | '%') unary)*
    unary := ('-' | '+') unary | atom
    atom  := NUMBER | 'STRING' | true | false | $name | $name.field | NAME '(' expr, ... ')'
           | '(' expr ')'

A variable is looked up through a callback ``lookup(name, field)`` (``field`` is ``None`` or the
part after the dot, as in ``$in.c``), which may raise; ``and``/``or`` evaluate their right side
only when needed, so ``$se and $in.c > 8`` never reads ``$in`` when ``$se`` is false.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any, Callable

from .errors import CnnCalcError
from .layers import suggest

LIMIT = 10 ** 15          # the largest magnitude an expression may produce
MAX_TOKENS = 200

Lookup = Callable[[str, "str | None"], Any]
Node = tuple


class ExprError(CnnCalcError):
    """An expression that cannot be read or evaluated (bad input, exit 2)."""


_TOKEN = re.compile(r"""\s*(?:
    (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | \$(?P<var>[A-Za-z_]\w*)(?:\.(?P<field>[A-Za-z_]\w*))?
  | (?P<name>[A-Za-z_]\w*)
  | '(?P<sq>[^']*)' | "(?P<dq>[^"]*)"
  | (?P<op>//|==|!=|<=|>=|[-+*/%()<>,])
)""", re.X)

_KEYWORDS = {"and", "or", "not", "true", "false"}
_COMPARE = ("==", "!=", "<", "<=", ">", ">=")


def _make_divisible(v: Any, divisor: Any, min_value: Any = None) -> int:
    """torchvision's ``_make_divisible`` (MobileNetV2/V3, EfficientNet): the multiple of
    ``divisor`` nearest to ``v`` (halves up), at least ``min_value`` (default ``divisor``), and
    one step more if rounding down lost more than 10 %."""
    if isinstance(divisor, float) and divisor.is_integer():
        divisor = int(divisor)
    if not (isinstance(divisor, int) and divisor > 0):
        raise ValueError(f"the divisor must be a positive integer, got {_show(divisor)}")
    low = divisor if min_value is None else min_value
    new_v = max(low, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _round(x: Any, digits: Any = None) -> Any:
    if digits is None:
        return round(x)
    if not isinstance(digits, int):
        raise ValueError(f"the digits must be an integer, got {_show(digits)}")
    return round(x, digits)


# name → (function, least arguments, most arguments (None: any))
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int | None]] = {
    "make_divisible": (_make_divisible, 2, 3),
    "round": (_round, 1, 2),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "int": (int, 1, 1),
    "min": (min, 2, None),
    "max": (max, 2, None),
}


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, str) else str(v)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@lru_cache(maxsize=4096)
def parse(text: str) -> Node:
    """The tree of ``text`` (cached: a block's expressions repeat for every instance)."""
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens: list[tuple[str, Any]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m:
                raise self.error(f"cannot read the expression {text!r} at {text[pos:].strip()!r}")
            kind = m.lastgroup
            if kind == "num":
                self.tokens.append(("num", self.number(m.group("num"))))
            elif kind in ("var", "field"):
                self.tokens.append(("var", (m.group("var"), m.group("field"))))
            elif kind == "name":
                self.tokens.append(("name", m.group("name")))
            elif kind in ("sq", "dq"):
                self.tokens.append(("str", m.group(kind)))
            else:
                self.tokens.append(("op", m.group("op")))
            pos = m.end()
            if len(self.tokens) > MAX_TOKENS:
                raise self.error(f"expression too long: {text[:40]!r}...")
        self.i = 0

    def error(self, msg: str) -> ExprError:
        return ExprError(msg)

    def number(self, text: str) -> int | float:
        if len(text) > 40:
            raise self.error(f"{text[:20]}… is too large in {self.text!r}")
        value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        if not abs(value) <= LIMIT:
            raise self.error(f"{text} is too large in {self.text!r}")
        return value

    def peek(self) -> tuple[str, Any]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", None)

    def take(self) -> tuple[str, Any]:
        tok = self.peek()
        self.i += 1
        return tok

    def is_op(self, *ops: str) -> bool:
        kind, val = self.peek()
        return kind == "op" and val in ops

    def is_word(self, word: str) -> bool:
        return self.peek() == ("name", word)

    def unexpected(self) -> ExprError:
        kind, val = self.peek()
        shown = ("end" if kind == "end" else f"${val[0]}" + (f".{val[1]}" if val[1] else "")
                 if kind == "var" else _show(val) if kind in ("num", "str") else val)
        return self.error(f"unexpected {shown!r} in the expression {self.text!r}")

    def parse(self) -> Node:
        node = self.or_()
        if self.i != len(self.tokens):
            raise self.unexpected()
        return node

    def chain(self, word: str, operand: Callable[[], Node]) -> Node:
        """``operand (word operand)*``, left-associative: the ``or`` and ``and`` levels."""
        node = operand()
        while self.is_word(word):
            self.i += 1
            node = (word, node, operand())
        return node

    def or_(self) -> Node:
        return self.chain("or", self.and_)

    def and_(self) -> Node:
        return self.chain("and", self.not_)

    def not_(self) -> Node:
        if self.is_word("not"):
            self.i += 1
            return ("not", self.not_())
        return self.cmp()

    def cmp(self) -> Node:
        node = self.sum()
        if self.is_op(*_COMPARE):
            op = self.take()[1]
            node = ("cmp", op, node, self.sum())
            if self.is_op(*_COMPARE):
                raise self.error(f"chained comparison in {self.text!r}: join the comparisons "
                                 f"with 'and'")
        return node

    def sum(self) -> Node:
        node = self.term()
        while self.is_op("+", "-"):
            op = self.take()[1]
            node = ("bin", op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.is_op("*", "/", "//", "%"):
            op = self.take()[1]
            node = ("bin", op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.is_op("-", "+"):
            op = self.take()[1]
            inner = self.unary()
            return ("neg", inner) if op == "-" else ("pos", inner)
        return self.atom()

    def atom(self) -> Node:
        kind, val = self.peek()
        if kind == "num":
            self.i += 1
            return ("const", val)
        if kind == "str":
            self.i += 1
            return ("const", val)
        if kind == "var":
            self.i += 1
            return ("var", val[0], val[1])
        if kind == "name":
            if val in ("true", "false"):
                self.i += 1
                return ("const", val == "true")
            if val in _KEYWORDS:
                raise self.unexpected()
            self.i += 1
            if not self.is_op("("):
                raise self.error(f"unknown name {val!r} in {self.text!r}: a parameter is "
                                 f"written ${val}, a string in quotes ('{val}')")
            if val not in FUNCTIONS:
                raise self.error(f"unknown function {val!r} in {self.text!r}"
                                 f"{suggest(val, FUNCTIONS)}; functions: "
                                 f"{', '.join(FUNCTIONS)}")
            self.i += 1
            args: list[Node] = []
            if not self.is_op(")"):
                args.append(self.or_())
                while self.is_op(","):
                    self.i += 1
                    args.append(self.or_())
            if not self.is_op(")"):
                if self.peek()[0] == "end":
                    raise self.error(f"missing ')' in {self.text!r}")
                raise self.unexpected()
            self.i += 1
            _, least, most = FUNCTIONS[val]
            if len(args) < least or (most is not None and len(args) > most):
                want = (f"{least}" if least == most else f"{least} or more" if most is None
                        else f"{least} to {most}")
                raise self.error(f"{val}() takes {want} arguments, got {len(args)}, in "
                                 f"{self.text!r}")
            return ("call", val, tuple(args))
        if kind == "op" and val == "(":
            self.i += 1
            node = self.or_()
            if not self.is_op(")"):
                if self.peek()[0] == "end":
                    raise self.error(f"missing ')' in {self.text!r}")
                raise self.unexpected()
            self.i += 1
            return node
        raise self.unexpected()


def evaluate(text: str, lookup: Lookup) -> Any:
    """The value of the expression ``text``; a whole number comes back as an ``int``."""
    value = _Eval(text, lookup).eval(parse(text))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _Eval:
    def __init__(self, text: str, lookup: Lookup):
        self.text = text
        self.lookup = lookup

    def error(self, msg: str) -> ExprError:
        return ExprError(msg)

    def what(self, node: Node, value: Any) -> str:
        """A value for a message, with the parameter it came from: ``$se (3)``."""
        if node[0] == "var":
            name = f"${node[1]}" + (f".{node[2]}" if node[2] else "")
            return f"{name} is {_show(value)}"
        return f"got {_show(value)}"

    def number(self, node: Node) -> int | float:
        value = self.eval(node)
        if not is_number(value):
            if node[0] == "var":
                raise self.error(f"${node[1]}{'.' + node[2] if node[2] else ''} is "
                                 f"{_show(value)}, not a number, in {self.text!r}")
            raise self.error(f"{_show(value)} is not a number in {self.text!r}")
        return value

    def boolean(self, node: Node, op: str) -> bool:
        value = self.eval(node)
        if not isinstance(value, bool):
            raise self.error(f"'{op}' needs true or false, but {self.what(node, value)}, in "
                             f"{self.text!r}")
        return value

    def checked(self, value: Any) -> Any:
        if is_number(value) and not abs(value) <= LIMIT:
            raise self.error(f"{self.text!r} is too large")
        return value

    def eval(self, node: Node) -> Any:
        kind = node[0]
        if kind == "const":
            return node[1]
        if kind == "var":
            value = self.lookup(node[1], node[2])
            if isinstance(value, float) and not abs(value) <= LIMIT:
                raise self.error(f"${node[1]} is {value}, too large, in {self.text!r}")
            return value
        if kind == "bin":
            return self.checked(self.arith(node[1], self.number(node[2]), self.number(node[3])))
        if kind == "neg":
            return -self.number(node[1])
        if kind == "pos":
            return self.number(node[1])
        if kind == "and":
            return self.boolean(node[1], "and") and self.boolean(node[2], "and")
        if kind == "or":
            return self.boolean(node[1], "or") or self.boolean(node[2], "or")
        if kind == "not":
            return not self.boolean(node[1], "not")
        if kind == "cmp":
            return self.compare(node[1], node[2], node[3])
        assert kind == "call"
        return self.call(node[1], node[2])

    def arith(self, op: str, a: int | float, b: int | float) -> int | float:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            if abs(a) > LIMIT or abs(b) > LIMIT:       # before multiplying two huge values
                raise self.error(f"{self.text!r} is too large")
            return a * b
        if b == 0:
            raise self.error(f"division by zero in {self.text!r}")
        if op == "//":
            return a // b
        if op == "%":
            return a % b
        if isinstance(a, int) and isinstance(b, int) and a % b == 0:
            return a // b                                 # exact: stays an integer
        return a / b

    def compare(self, op: str, left: Node, right: Node) -> bool:
        a, b = self.eval(left), self.eval(right)
        if op in ("==", "!="):
            kinds = {"number" if is_number(v) else type(v).__name__ for v in (a, b)}
            if len(kinds) > 1:
                raise self.error(f"cannot compare {_show(a)} with {_show(b)} in {self.text!r} "
                                 f"(a number, a string and true/false are never equal)")
            return (a == b) == (op == "==")
        if not (is_number(a) and is_number(b)):
            bad, value = (left, a) if not is_number(a) else (right, b)
            raise self.error(f"'{op}' compares numbers, but {self.what(bad, value)}, in "
                             f"{self.text!r}")
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]

    def call(self, name: str, arg_nodes: tuple) -> Any:
        args = [self.number(n) for n in arg_nodes]
        function = FUNCTIONS[name][0]
        try:
            return self.checked(function(*args))
        except (ValueError, OverflowError) as e:
            raise self.error(f"{name}(): {e}, in {self.text!r}") from None
