"""JMESPath evaluated on a work budget, so no mapping can hang the event loop.

JMESPath has no loops, but it can multiply: each `[@, @][]` doubles a list and projects
the rest of the expression over it (twenty of them, 140 characters, take ten seconds),
and nested multi-selects build a value whose tree is exponential in the expression's
length, which `to_string()` or `==` would then walk. So every node the interpreter
visits, every element a flatten or slice copies, and the full tree (strings by length)
of every function argument, every `==`/`!=` operand and every result costs units of one
`Budget`; the evaluation stops with OverBudget when they run out. What a mapping costs
on an ordinary body (tens of units a field) is far below the budget of a post.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from jmespath import functions, visitor
from jmespath.parser import ParsedResult

if TYPE_CHECKING:
    from jmespath.visitor import _TreeNode

# Units for one post, all its expressions and items together: a mapping that reads a
# 1 MiB body whole once or twice fits; a runaway one stops in well under a second.
POST_BUDGET = 250_000
# A string costs one unit per this many characters (copying it is that much cheaper than
# visiting a node).
_CHARS_PER_UNIT = 64


class OverBudget(Exception):
    """The evaluation needed more work than its budget allows."""


class Budget:
    """Units of work left for the expressions of one post."""

    def __init__(self, units: int = POST_BUDGET) -> None:
        self.total = units
        self.left = units

    def spend(self, units: int) -> None:
        self.left -= units
        if self.left < 0:
            raise OverBudget(f"needs more than {self.total:,} steps of work")

    def weigh(self, value: Any) -> None:
        """Spend what walking all of `value` costs, stopping as soon as it is too much
        (a value built of shared parts is weighed as the tree it stands for)."""
        pending = [value]
        while pending:
            current = pending.pop()
            if isinstance(current, str):
                self.spend(1 + len(current) // _CHARS_PER_UNIT)
            elif isinstance(current, list):
                self.spend(1 + len(current))
                pending.extend(current)
            elif isinstance(current, dict):
                self.spend(1 + len(current))
                pending.extend(current.values())
            else:
                self.spend(1)


def search(compiled: ParsedResult, document: Any, budget: Budget) -> Any:
    """`compiled`'s value on `document`, charged to `budget`; raises OverBudget when it
    runs out, JMESPathError on a type mismatch, RecursionError on data nested too deeply."""
    result = _Interpreter(budget).visit(compiled.parsed, document)
    budget.weigh(result)
    return result


class _Functions(functions.Functions):
    def __init__(self, budget: Budget) -> None:
        self._budget = budget

    def call_function(self, function_name: str, resolved_args: Iterable[Any]) -> Any:
        resolved_args = list(resolved_args)
        for argument in resolved_args:
            self._budget.weigh(argument)
        return super().call_function(function_name, resolved_args)


class _Interpreter(visitor.TreeInterpreter):
    def __init__(self, budget: Budget) -> None:
        super().__init__(visitor.Options(custom_functions=_Functions(budget)))
        self._budget = budget

    def visit(self, node: _TreeNode, *args: Any, **kwargs: Any) -> Any:
        self._budget.spend(1)
        return super().visit(node, *args, **kwargs)

    def visit_comparator(self, node: _TreeNode, value: Any) -> Any:
        if node["value"] not in ("eq", "ne"):
            # <, > and the like compare numbers only.
            return super().visit_comparator(node, value)
        left, right = (self.visit(child, value) for child in node["children"])
        # Python's == walks both operands whole.
        self._budget.weigh(left)
        self._budget.weigh(right)
        return self.COMPARATOR_FUNC[node["value"]](left, right)

    def visit_flatten(self, node: _TreeNode, value: Any) -> Any:
        merged = super().visit_flatten(node, value)
        self._budget.spend(len(merged) if isinstance(merged, list) else 0)
        return merged

    def visit_slice(self, node: _TreeNode, value: Any) -> Any:
        sliced = super().visit_slice(node, value)
        self._budget.spend(len(sliced) if isinstance(sliced, list) else 0)
        return sliced
