"""The restricted evaluator for every expression and script in a process bundle.

Guarded statically, before anything runs: imports, `def`/`class`, `try`/`with`/`match` and every
other statement or expression type outside `_NODES`; names and keywords starting with `_`; the
builtins in `DENIED_NAMES`; every attribute outside `ATTRIBUTES` (so no `__class__`, no
`str.format`); towers of `**`, constant exponents above `MAX_EXPONENT`, repetition of literals beyond
`MAX_SEQUENCE` items; sources longer than `MAX_SOURCE` or nested deeper than `MAX_DEPTH`.
Guarded at run time: the only builtins are `SAFE_BUILTINS`, so a name that slips through resolves
to task data or fails with NameError. Each evaluation has a time budget (`Limits.seconds`: the opcodes
of sandboxed code are counted by a trace function that looks at the clock every `CLOCK_EVERY` of them) and a
size budget (`Limits.size`): `**`, `*`, `<<` and `+` are compiled to guards that refuse a result above it before
computing it (items of a sequence, digits of a number), as `+` of two sequences and `range` do. Exceeding either
raises ExpressionError with ``limit`` set; the engine makes it an incident.
Not guarded: a single call of a str method on values already within the budget (`s.replace('a', s)`)
can still build a string up to the square of the budget.
"""

from __future__ import annotations

import ast
import functools
import operator
import os
import re
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from types import CodeType

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from ..errors import ExpressionError, ForbiddenCode
from ..procedure.scoring import rank, total_score, vetoes_hit
from . import sampling

MAX_SOURCE = 10_000
MAX_DEPTH = 100
MAX_EXPONENT = 100
MAX_SEQUENCE = 100_000
MAX_WIDTH = 1_000

SAFE_BUILTINS = {
    f.__name__: f
    for f in (abs, all, any, bool, dict, enumerate, float, int, isinstance, len, list, max, min,
              range, round, set, sorted, str, sum, tuple, zip)
} | {"True": True, "False": False, "None": None}

# Refused even where they would only read task data, so an administrator gets a clear message
# instead of a NameError at run time; none of them is in SAFE_BUILTINS anyway.
DENIED_NAMES = frozenset(
    "open exec eval compile globals locals vars getattr setattr delattr hasattr dir input breakpoint"
    " help memoryview type object super classmethod staticmethod property".split())

# Methods of dict, list, str, set and Decimal. `format`/`format_map` are left out on purpose: a
# format string taken from task data ("{0.__class__}") reaches attributes the check never sees.
ATTRIBUTES = frozenset(
    "get keys values items append extend insert pop remove index count sort reverse copy update"
    " setdefault clear add discard union intersection difference issubset issuperset"
    " strip lstrip rstrip split rsplit splitlines join startswith endswith lower upper title"
    " capitalize replace find rfind partition rpartition isdigit isdecimal isnumeric isalpha"
    " isalnum isspace quantize to_integral_value is_zero is_signed compare normalize".split())

# Every node type the sandbox accepts; anything else (def, class, import, try, with, match,
# yield, await, global, ...) is refused, including node types added by future Python versions.
_NODES = (
    ast.Expression, ast.Module, ast.Expr, ast.Assign, ast.AugAssign, ast.For, ast.While, ast.If,
    ast.Pass, ast.Break, ast.Continue, ast.Assert, ast.Delete,
    ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Lambda, ast.IfExp, ast.Dict, ast.Set, ast.ListComp,
    ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Compare, ast.Call, ast.FormattedValue,
    ast.JoinedStr, ast.Constant, ast.Attribute, ast.Subscript, ast.Starred, ast.Name, ast.List,
    ast.Tuple, ast.Slice, ast.NamedExpr, ast.comprehension, ast.arguments, ast.arg, ast.keyword,
    ast.expr_context, ast.boolop, ast.operator, ast.unaryop, ast.cmpop,
)
_CONSTRUCTS = {
    ast.Import: "import", ast.ImportFrom: "import", ast.FunctionDef: "def", ast.AsyncFunctionDef: "async def",
    ast.ClassDef: "class", ast.Global: "global", ast.Nonlocal: "nonlocal", ast.With: "with",
    ast.AsyncWith: "async with", ast.AsyncFor: "async for", ast.Try: "try", ast.Raise: "raise",
    ast.Return: "return", ast.Yield: "yield", ast.YieldFrom: "yield from", ast.Await: "await",
    ast.Match: "match", ast.AnnAssign: "annotation", ast.TryStar: "try",
}


def _refuse(message: str):
    raise ForbiddenCode(message)


def _number(node: ast.AST) -> int | float | None:
    """The value of a small constant number expression, or None when it is not one."""
    if isinstance(node, ast.Constant):
        value = node.value
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _number(node.operand)
        return None if value is None else (-value if isinstance(node.op, ast.USub) else value)
    if isinstance(node, ast.BinOp) and type(node.op) in _FOLD:
        left, right = _number(node.left), _number(node.right)
        if left is None or right is None:
            return None
        # Folding a tower of ** would be the very hang the guard is there to prevent.
        if isinstance(node.op, ast.Pow) and (abs(right) > MAX_EXPONENT or _has_pow(node.left)):
            return None
        try:
            return _FOLD[type(node.op)](left, right)
        except (ArithmeticError, ValueError):
            return None
    return None


_FOLD = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Pow: operator.pow}


def _size(node: ast.AST) -> int | float:
    """A lower bound on the length of a sequence built from literals (0 when not one)."""
    if isinstance(node, ast.Constant):
        return len(node.value) if isinstance(node.value, str | bytes) else 0
    if isinstance(node, ast.List | ast.Tuple):
        return len(node.elts)
    if isinstance(node, ast.JoinedStr):
        return len(node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _size(node.left) + _size(node.right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        # Each side once: calling _size twice per level would be exponential in the chain's length.
        left, right = _size(node.left), _size(node.right)
        if left or right:  # an unknown count (a variable) counts as 1: it is not guarded
            return left * (_number(node.right) or 1) if left else right * (_number(node.left) or 1)
    return 0


def _has_pow(node: ast.AST) -> bool:
    return any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow) for n in ast.walk(node))


def _check_binop(node: ast.BinOp) -> None:
    if isinstance(node.op, ast.Pow):
        # (b ** e1) ** e2 and b ** (e1 ** e2) are how 9**9**9 hangs a worker; one level is enough.
        if _has_pow(node.left) or _has_pow(node.right):
            _refuse("nested '**' is not allowed")
        exponent = _number(node.right)
        if exponent is not None and abs(exponent) > MAX_EXPONENT:
            _refuse(f"exponent {exponent} is too large (at most {MAX_EXPONENT})")
    elif isinstance(node.op, ast.LShift):
        shift = _number(node.right)
        if shift is None and _has_pow(node.right) or shift is not None and shift > MAX_EXPONENT:
            _refuse(f"shift is too large (at most {MAX_EXPONENT})")
    elif isinstance(node.op, ast.Mult) and _size(node) > MAX_SEQUENCE:
        _refuse(f"repetition is too large (more than {MAX_SEQUENCE} items)")


def _check_name(name: str, what: str) -> None:
    if name.startswith("_") or name in DENIED_NAMES:
        _refuse(f"{what} '{name}' is not allowed")


def _check_node(node: ast.AST) -> None:
    if not isinstance(node, _NODES):
        construct = _CONSTRUCTS.get(type(node), type(node).__name__)
        _refuse(f"{construct} is not allowed")
    if isinstance(node, ast.Name):
        _check_name(node.id, "name")
    elif isinstance(node, ast.Attribute) and node.attr not in ATTRIBUTES:
        _refuse(f"attribute '{node.attr}' is not allowed")
    elif isinstance(node, ast.arg):
        _check_name(node.arg, "argument")
    elif isinstance(node, ast.keyword) and node.arg is not None:
        _check_name(node.arg, "keyword")
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in DENIED_NAMES:
        _refuse(f"call of '{node.func.id}' is not allowed")
    elif isinstance(node, ast.comprehension) and node.is_async:
        _refuse("async comprehension is not allowed")
    elif isinstance(node, ast.BinOp):
        _check_binop(node)
    elif isinstance(node, ast.FormattedValue) and node.format_spec is not None:
        # f"{x:>{n}}" pads to a width computed at run time, past any size budget: only written widths.
        parts = node.format_spec.values if isinstance(node.format_spec, ast.JoinedStr) else [node.format_spec]
        if not all(isinstance(p, ast.Constant) for p in parts):
            _refuse("a computed format specification is not allowed")
        if any(int(n) > MAX_WIDTH for p in parts for n in re.findall(r"\d+", str(p.value))):
            _refuse(f"format width is too large (at most {MAX_WIDTH})")


def _parse(source: str, mode: str) -> ast.AST:
    """Parse `source` and refuse whatever is outside the sandbox; SyntaxError propagates."""
    if mode not in ("eval", "exec"):
        raise ValueError(f"mode must be 'eval' or 'exec', not {mode!r}")
    if len(source) > MAX_SOURCE:
        _refuse(f"code is too long ({len(source)} characters, at most {MAX_SOURCE})")
    if mode == "eval":
        source = source.strip()  # eval() itself strips blanks; pretty-printed XML adds newlines too
    try:
        tree = ast.parse(source, mode=mode)
    except (RecursionError, MemoryError):
        raise ForbiddenCode("code is too deeply nested") from None
    # Depth before anything else, without recursion: the node checks below recurse.
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            _refuse(f"code is too deeply nested (more than {MAX_DEPTH} levels)")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    for node in ast.walk(tree):
        _check_node(node)
    return tree


def check(source: str, mode: str = "eval") -> None:
    """Raise ForbiddenCode (or SyntaxError) unless `source` may run in the sandbox."""
    _parse(source, mode)


class _Guarded(ast.NodeTransformer):
    """``a ** b``, ``a * b``, ``a << b`` and ``a + b`` (and their augmented forms on names) become guard calls."""

    GUARDS = {ast.Pow: "__kaohe_pow", ast.Mult: "__kaohe_mul", ast.LShift: "__kaohe_lshift", ast.Add: "__kaohe_add"}

    def _call(self, op: ast.operator, left: ast.expr, right: ast.expr, like: ast.AST) -> ast.Call:
        call = ast.Call(ast.Name(self.GUARDS[type(op)], ast.Load()), [left, right], [])
        return ast.copy_location(call, like)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        return self._call(node.op, node.left, node.right, node) if type(node.op) in self.GUARDS else node

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        if type(node.op) not in self.GUARDS or not isinstance(node.target, ast.Name):
            return node
        value = self._call(node.op, ast.Name(node.target.id, ast.Load()), node.value, node)
        return ast.copy_location(ast.Assign([node.target], value), node)


@functools.lru_cache(maxsize=2048)
def _compiled(source: str, mode: str) -> CodeType:
    # "<string>" is the file name PythonScriptEngine looks for to report the failing line, and the one the
    # time budget's trace function follows.
    tree = ast.fix_missing_locations(_Guarded().visit(_parse(source, mode)))
    return compile(tree, "<string>", mode)


@dataclass(frozen=True)
class Limits:
    """What one evaluation may spend: seconds of run time, and items (or digits) in any one value it builds."""

    seconds: float = 2.0
    size: int = 1_000_000

    @classmethod
    def from_environment(cls) -> Limits:
        """``KAOHE_EXPRESSION_SECONDS`` and ``KAOHE_EXPRESSION_SIZE``, else the defaults."""
        return cls(float(os.environ.get("KAOHE_EXPRESSION_SECONDS", cls.seconds)),
                   int(os.environ.get("KAOHE_EXPRESSION_SIZE", cls.size)))


#: Steps (opcodes) of sandboxed code between two looks at the clock: a few milliseconds.
CLOCK_EVERY = 10_000


def _over(what: str) -> ExpressionError:
    error = ExpressionError(f"表达式超出限制 (expression exceeded its {what})")
    error.limit = True
    return error


def _guards(limits: Limits) -> dict:
    """The guard functions the compiled code calls, bound to these limits."""
    size, bits = limits.size, limits.size * 10 // 3  # a number of `size` decimal digits has ~3.3 bits each

    def long(value) -> bool:
        return isinstance(value, str | bytes | list | tuple)

    def mul(a, b):
        for sequence, count in ((a, b), (b, a)):
            if long(sequence) and isinstance(count, int) and len(sequence) * count > size:
                raise _over(f"size budget: {len(sequence)} × {count} items (at most {size:,})")
        if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > bits:
            raise _over(f"size budget: a number of more than {size:,} digits")
        return a * b

    def add(a, b):
        if long(a) and long(b) and len(a) + len(b) > size:
            raise _over(f"size budget: {len(a) + len(b):,} items (at most {size:,})")
        return a + b

    def power(a, b):
        if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1 and a.bit_length() * b > bits:
            raise _over(f"size budget: a number of more than {size:,} digits")
        return a ** b

    def lshift(a, b):
        if isinstance(a, int) and isinstance(b, int) and a and a.bit_length() + b > bits:
            raise _over(f"size budget: a number of more than {size:,} digits")
        return a << b

    def bounded_range(*args):
        numbers = range(*args)
        if len(numbers) > size:
            raise _over(f"size budget: range of {len(numbers):,} items (at most {size:,})")
        return numbers

    return {"__kaohe_pow": power, "__kaohe_mul": mul, "__kaohe_lshift": lshift, "__kaohe_add": add,
            "range": bounded_range}


class _Budget:
    """A trace function that counts the steps (opcodes) of sandboxed code and stops it when its time is up."""

    def __init__(self, limits: Limits):
        self.seconds = limits.seconds
        self.deadline = time.monotonic() + limits.seconds
        self.steps = 0

    def __call__(self, frame, event, arg):
        # Only the sandbox's own frames: helpers it calls (total_score, the calendar) are ours and bounded.
        if frame.f_code.co_filename != "<string>":
            return None
        frame.f_trace_opcodes = True  # `while True: pass` runs on one line: it gives no line events
        return self._step

    def _step(self, frame, event, arg):
        self.steps += 1
        if self.steps % CLOCK_EVERY == 0 and time.monotonic() > self.deadline:
            raise _over(f"time budget of {self.seconds:g} s")
        return self._step


def _run(limits: Limits, run, *args):
    """``run(*args)`` under a time budget; a budget already running (a nested evaluation) covers it."""
    previous = sys.gettrace()
    if isinstance(previous, _Budget):
        return run(*args)
    sys.settrace(_Budget(limits))
    try:
        return run(*args)
    finally:
        sys.settrace(previous)


HELPERS = {"Decimal": Decimal, "total_score": total_score, "rank": rank, "vetoes_hit": vetoes_hit, **sampling.HELPERS}


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """TaskDataEnvironment's semantics, with checked code and only the safe builtins."""

    def __init__(self, helpers: dict | None = None, limits: Limits | None = None):
        super().__init__({**HELPERS, **(helpers or {})})
        self.limits = limits or Limits.from_environment()
        self.guards = _guards(self.limits)
        self.builtins = {**SAFE_BUILTINS, "range": self.guards["range"]}

    def evaluate(self, expression, context, external_context=None):
        """The value of `expression` with task data `context` as its variables."""
        code = _compiled(expression, "eval")
        # The guards and __builtins__ go in last so that no data key can replace them.
        namespace = {**self.globals, **(external_context or {}), **context, **self.guards,
                     "__builtins__": self.builtins}
        return _run(self.limits, eval, code, namespace)

    def execute(self, script, context, external_context=None):
        """Run `script` in task data `context`; only the data variables it sets stay behind."""
        code = _compiled(script, "exec")
        external_context = external_context or {}
        clashes = (set(self.globals) | set(external_context)) & set(context)
        if clashes:
            raise ExpressionError(f"task data overwrites predefined helpers: {sorted(clashes)}")
        context.update(self.globals)
        context.update(external_context)
        context.update(self.guards)
        # Without this key exec would insert the real builtins module.
        context["__builtins__"] = self.builtins
        try:
            _run(self.limits, exec, code, context)
        finally:
            for key in list(context):
                if key == "__builtins__" or callable(context[key]) or key in self.globals \
                        or key in external_context or key in self.guards:
                    del context[key]
        return True


def script_engine(helpers: dict | None = None, limits: Limits | None = None) -> PythonScriptEngine:
    """A SpiffWorkflow script engine whose expressions and scripts run in the sandbox, within ``limits``."""
    return PythonScriptEngine(environment=SandboxEnvironment(helpers, limits))
