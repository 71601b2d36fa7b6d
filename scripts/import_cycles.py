"""An import-linter contract: no import cycle among the modules of a package, one module at a time.

import-linter's ``acyclic_siblings`` contract squashes each package into one node and compares siblings, so
it cannot see a cycle between a package's ``__init__`` and one of its own modules (``budgets`` imports
``budgets.enforcer``, which imports ``budgets`` back). This one looks at modules as they are: any strongly
connected set of modules (each reachable from the others by imports, TYPE_CHECKING ones included) breaks it.
Registered in pyproject's ``[tool.importlinter]`` as ``acyclic_modules``; ``lint-imports`` runs from the
repository root, which it puts on ``sys.path``, so ``scripts.import_cycles`` imports.
"""

from __future__ import annotations

from typing import Any

from importlinter import Contract, ContractCheck, fields, output
from importlinter.application import contract_utils
from importlinter.application.contract_utils import AlertLevel


class AcyclicModulesContract(Contract):
    """Options: ``package`` (the top-level package to check), ``ignore_imports`` (as in other contracts)."""

    type_name = "acyclic_modules"

    package = fields.StringField()
    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)
    unmatched_ignore_imports_alerting = fields.EnumField(AlertLevel, default=AlertLevel.ERROR)

    def check(self, graph: Any, verbose: bool) -> ContractCheck:
        removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph,
            ignore_imports=self.ignore_imports,  # type: ignore[arg-type]
            unmatched_alerting=self.unmatched_ignore_imports_alerting,  # type: ignore[arg-type]
        )
        package = str(self.package)
        modules = sorted(m for m in graph.modules if m == package or m.startswith(package + "."))
        inside = set(modules)
        edges = {m: sorted(set(graph.find_modules_directly_imported_by(m)) & inside) for m in modules}
        cycles = []
        for component in _strongly_connected(modules, edges):
            members = set(component)
            imports = [(a, b) for a in sorted(component) for b in edges[a] if b in members]
            cycles.append(imports)
        return ContractCheck(
            kept=not cycles,
            warnings=list(removal.warnings),
            metadata={"cycles": cycles},
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        for imports in check.metadata["cycles"]:
            output.print_error("These modules import each other in a cycle; remove one of these imports:")
            output.new_line()
            for importer, imported in imports:
                output.print(f"- {importer} -> {imported}")
            output.new_line()


def _strongly_connected(modules: list[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the sets of two or more modules that all reach each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, next_edge = work.pop()
            if next_edge == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            targets = edges[node]
            if next_edge < len(targets):
                work.append((node, next_edge + 1))
                target = targets[next_edge]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found
