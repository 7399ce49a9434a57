"""The engine keeps no module-level mutable state: whatever a run sets up lives in its Engine.

Every module of ``cnncalc/engine/`` is read with :mod:`ast` and refused if it has a ``global``
statement, creates thread-local storage or a thread pool at module level, or mutates a module-level
container (dict, list, set, array, ...) anywhere. The checker is itself tested on small bad
modules, so that it can fail.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

import cnncalc.engine

ENGINE = Path(cnncalc.engine.__file__).parent

# calls whose result is a mutable container (by the called name's last part)
MUTABLE_FACTORIES = {"dict", "list", "set", "defaultdict", "OrderedDict", "Counter", "deque",
                     "bytearray", "array", "empty", "zeros", "ones", "full", "empty_like",
                     "zeros_like", "local", "SimpleQueue", "Queue"}
# never at module level, mutated or not: per-thread or per-run machinery
FORBIDDEN_AT_MODULE_LEVEL = {"local", "ThreadPoolExecutor", "Engine", "BlasThreads", "Scratch",
                             "Lock", "RLock"}
MUTATING_METHODS = {"append", "extend", "insert", "pop", "popitem", "remove", "clear", "update",
                    "setdefault", "add", "discard", "sort", "reverse", "fill", "resize", "put",
                    "put_nowait", "appendleft", "popleft", "__setitem__", "__delitem__",
                    "itemset"}


def _called_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        f = node.func
        if isinstance(f, ast.Name):
            return f.id
        if isinstance(f, ast.Attribute):
            return f.attr
    return None


def _is_mutable(value: ast.AST) -> bool:
    if isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)):
        return True
    return _called_name(value) in MUTABLE_FACTORIES


def _root_name(node: ast.AST) -> str | None:
    """``x`` for ``x``, ``x[i]``, ``x.a``, ``x[i].a[j]``."""
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def problems(source: str, filename: str = "<module>") -> list[str]:
    """What the rules find in one module's source (empty: clean)."""
    tree = ast.parse(source, filename)
    found: list[str] = []
    mutable: dict[str, int] = {}
    for stmt in tree.body:
        targets: list[ast.AST] = []
        value: ast.AST | None = None
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        if value is None:
            continue
        for node in ast.walk(value):
            name = _called_name(node)
            if name in FORBIDDEN_AT_MODULE_LEVEL:
                found.append(f"{filename}:{stmt.lineno}: module-level {name}()")
        if _is_mutable(value):
            for t in targets:
                if isinstance(t, ast.Name):
                    mutable[t.id] = stmt.lineno

    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            found.append(f"{filename}:{node.lineno}: global {', '.join(node.names)}")
        changed: list[ast.AST] = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) \
                else [node.target]
            # rebinding the bare name is not a mutation (and is caught as a global elsewhere);
            # item and attribute stores are
            changed += [t for t in targets if isinstance(t, (ast.Subscript, ast.Attribute))]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in MUTATING_METHODS:
            changed.append(node.func.value)
        for target in changed:
            name = _root_name(target)
            if name in mutable:
                found.append(f"{filename}:{node.lineno}: mutates module-level '{name}' "
                             f"(line {mutable[name]})")
    return found


@pytest.mark.parametrize("path", sorted(ENGINE.glob("*.py")), ids=lambda p: p.name)
def test_engine_module_has_no_mutable_module_state(path):
    source = path.read_text(encoding="utf-8")
    found = problems(source, path.name)
    assert not found, "\n".join(found)


def test_the_engine_package_has_the_expected_modules():
    """The scan covers every module (a module moved elsewhere would escape it)."""
    names = {p.stem for p in ENGINE.glob("*.py")}
    assert {"__init__", "threads", "conv", "winograd", "pool", "dense", "resize", "weights",
            "ops", "planner", "run"} <= names


@pytest.mark.parametrize("source, expected", [
    ("""
     _POOL = None
     def pool():
         global _POOL
         _POOL = 1
     """, "global _POOL"),
    ("""
     import threading
     _LOCAL = threading.local()
     """, "module-level local()"),
    ("""
     from concurrent.futures import ThreadPoolExecutor
     POOL = ThreadPoolExecutor(2)
     """, "module-level ThreadPoolExecutor()"),
    ("""
     CACHE = {}
     def get(k):
         CACHE[k] = 1
     """, "mutates module-level 'CACHE'"),
    ("""
     SEEN = []
     def see(x):
         SEEN.append(x)
     """, "mutates module-level 'SEEN'"),
    ("""
     import numpy as np
     BUF = np.empty(10)
     def use():
         BUF[0] = 1
     """, "mutates module-level 'BUF'"),
    ("""
     OPS = {}
     def op(name):
         def deco(fn):
             OPS[name] = fn
             return fn
         return deco
     """, "mutates module-level 'OPS'"),
    ("""
     STATE = {"n": 0}
     def bump():
         STATE["n"] += 1
     """, "mutates module-level 'STATE'"),
])
def test_the_checker_finds_module_state(source, expected):
    found = problems(textwrap.dedent(source))
    assert any(expected in f for f in found), found


def test_the_checker_accepts_constants_and_state_in_objects():
    source = textwrap.dedent("""
        import numpy as np
        F32 = np.float32
        UNITS = {"k": 1024}
        NAMES = frozenset({"a"})

        class Engine:
            def __init__(self):
                self.cache = {}

            def put(self, k):
                self.cache[k] = UNITS["k"]

        def local_state():
            seen = []
            seen.append(1)
            return seen
        """)
    assert problems(source) == []
