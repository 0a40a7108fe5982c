"""The package's imports flow one way: each module imports only from its own layer or lower ones.

The layers, lowest first, are documented in docs/architecture.md ("Layout"). Imports made inside
functions count as much as those at the top of a module (they run sooner or later); imports under
``if TYPE_CHECKING:`` do not. Importing ``a.b.c`` also runs the package faces ``a.b`` (their
``__init__.py``), so those count as imported too.
"""
import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "framework"

#: lowest first; a module of one layer may import its own layer and the ones before it
LAYERS = [
    ("foundations", {"backend", "config", "utils", "datasets", "variables", "keras_mask"}),
    ("kernels", {"kernels"}),
    ("plan", {"plan"}),
    ("math objects", {"activations", "initializers", "regularizers", "constraints", "schedules",
                      "losses", "metrics", "optimizers"}),
    ("graph", {"graph"}),
    ("layers", {"layers"}),
    ("ops", {"ops", "random"}),
    ("saving", {"saving", "export"}),
    ("training", {"training", "callbacks"}),
    ("models", {"models"}),
    ("applications", {"applications"}),
    ("distribute", {"distribute"}),
    ("runs", {"runs"}),
    ("command line", {"cli", "__main__"}),
]
LEVEL = {part: level for level, (_, parts) in enumerate(LAYERS) for part in parts}


def module_files():
    files = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("framework",) + path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts)] = path
    return files


def _in_type_checking(test):
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(path, module, is_package):
    """Every ``framework...`` name a module imports, with its line."""
    package = module if is_package else module.rpartition(".")[0]
    found = []

    def visit(node):
        if isinstance(node, ast.If) and _in_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            found.append((base, node.lineno))
            found.extend((f"{base}.{alias.name}", node.lineno) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return [(name, line) for name, line in found if name == "framework" or name.startswith("framework.")]


def import_graph():
    """module -> {imported module: first line}, faces of parent packages included."""
    files = module_files()
    edges = defaultdict(dict)
    for module, path in files.items():
        own_packages = {module.rsplit(".", k)[0] for k in range(module.count(".") + 1)}
        for name, line in imported_names(path, module, path.name == "__init__.py"):
            while name not in files and "." in name:
                name = name.rpartition(".")[0]
            parts = name.split(".")
            for k in range(2, len(parts) + 1):  # the faces a.b, then the module itself
                target = ".".join(parts[:k])
                if target in files and target != module and target not in own_packages:
                    edges[module].setdefault(target, line)
    return files, edges


def cycles(nodes, edges):
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(edges.get(root, {})))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, {}))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def level_of(module):
    parts = module.split(".")
    return None if len(parts) == 1 else LEVEL.get(parts[1])


def test_every_module_has_a_documented_layer():
    files, _ = import_graph()
    unplaced = sorted(m for m in files if m != "framework" and level_of(m) is None)
    assert not unplaced, \
        f"modules outside every layer of LAYERS (add them here and to docs/architecture.md): {unplaced}"


def test_no_import_cycle():
    files, edges = import_graph()
    found = cycles(list(files), edges)
    assert not found, "import cycles (in-function imports included):\n" + "\n".join(" -> ".join(c) for c in found)


def test_imports_never_run_up_the_layers():
    files, edges = import_graph()
    upward = []
    for module, targets in edges.items():
        if module == "framework":  # the package face offers every public name
            continue
        for target, line in targets.items():
            if target != "framework" and level_of(target) > level_of(module):
                upward.append(f"{files[module].relative_to(PACKAGE.parent)}:{line}: {module} "
                              f"({LAYERS[level_of(module)][0]}) imports {target} ({LAYERS[level_of(target)][0]})")
    assert not upward, "imports against the layer order:\n" + "\n".join(sorted(upward))


def private_names_defined(tree):
    """Underscored names a module defines: functions, classes, and attributes it assigns."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def package_of(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


#: underscored names the standard library documents for use (os._exit: how a forked child ends)
STANDARD_PRIVATE_API = {"os._exit"}


def test_no_package_reaches_into_another_packages_private_names():
    """``obj._name`` (obj not self or cls) is allowed only when ``_name`` is defined in the same package:
    state a package owns is reached by others through public names."""
    files = module_files()
    trees = {m: ast.parse(p.read_text(), str(p)) for m, p in files.items()}
    defined = defaultdict(set)
    for module, tree in trees.items():
        defined[package_of(module)] |= private_names_defined(tree)
    reaching = []
    for module, tree in trees.items():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            if node.attr not in defined[package_of(module)] and ast.unparse(node) not in STANDARD_PRIVATE_API:
                reaching.append(f"{files[module].relative_to(PACKAGE.parent)}:{node.lineno}: {ast.unparse(node)}")
    assert not reaching, "private names of another package:\n" + "\n".join(reaching)


def test_nothing_imports_the_package_face():
    files, edges = import_graph()
    inward = sorted(m for m, targets in edges.items() if "framework" in targets and m != "framework")
    assert not inward, f"modules importing the package face 'framework' itself: {inward}"


@pytest.mark.parametrize("source, expected", [
    ("import framework.layers.core\n", {"framework.layers", "framework.layers.core"}),
    ("from framework.plan import compiler\n", {"framework.plan", "framework.plan.compiler"}),
    ("def f():\n    from framework.models import functional\n", {"framework.models", "framework.models.functional"}),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import framework.models\n", set()),
])
def test_the_walker_sees_every_kind_of_import(tmp_path, source, expected):
    path = tmp_path / "probe.py"
    path.write_text(source)
    names = {n for n, _ in imported_names(path, "framework.probe", False)}
    files = module_files()
    resolved = set()
    for name in names:
        while name not in files and "." in name:
            name = name.rpartition(".")[0]
        parts = name.split(".")
        resolved |= {".".join(parts[:k]) for k in range(2, len(parts) + 1) if ".".join(parts[:k]) in files}
    assert resolved == expected


def test_cycle_finder_finds_a_cycle():
    assert cycles(["a", "b", "c"], {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}}) == [["a", "b", "c"]]
    assert cycles(["a", "b"], {"a": {"b": 1}}) == []


#: the longest a module outside kernels/ may grow: past it, a module holds more than one job
MAX_MODULE_LINES = 600


def test_modules_stay_small():
    long = {f"{path.relative_to(PACKAGE.parent)}: {n} lines"
            for module, path in module_files().items()
            if package_of(module) != "kernels" and (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them by job): {sorted(long)}"
