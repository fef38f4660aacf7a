"""The house (docs/architecture.md): the package's floors, no import cycle, no import pointing upward, the
template knowing nothing of sensors, and the orchestrator as the story of one command."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "deepsif_pipeline"
# the floors, from the bottom: a module imports from its own floor or the floors below it
FLOORS = [("console", "results"), ("science",), ("store",), ("processes",), ("head",), ("config",), ("steps",),
          ("run",), ("cli",)]


def _modules():
    """``{dotted name: path}`` of every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name, path):
    """The package's modules ``name`` imports (anywhere in it: deferred imports are dependencies too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # a relative import: resolved from this module's package
                base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                module = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                module = node.module
            # `from package import submodule` depends on the submodule, else on the module named
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module
                       for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _floor(name):
    first = name.split(".")[1] if "." in name else ""
    return next((i for i, names in enumerate(FLOORS) if first in names), None)


def test_every_module_is_on_a_floor_and_imports_no_floor_above_its_own():
    upward = []
    for name, targets in GRAPH.items():
        if name == "deepsif_pipeline":
            continue
        assert _floor(name) is not None, f"{name} is on no floor: add its subpackage to FLOORS and the map"
        upward += [f"{name} -> {t}" for t in targets if t != "deepsif_pipeline" and _floor(t) > _floor(name)]
    assert upward == []


def test_the_package_has_no_import_cycle():
    cycles, index, low, stack, on_stack = [], {}, {}, [], set()

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert cycles == []
    # the check sees the imports (a relative-free package: every import is absolute)
    assert {"deepsif_pipeline.steps.base", "deepsif_pipeline.steps.clean"} <= GRAPH["deepsif_pipeline.steps.simulate"]


def test_the_bottom_floor_imports_nothing_of_the_project():
    for name in ("deepsif_pipeline.console", "deepsif_pipeline.results", "deepsif_pipeline.store.layout",
                 "deepsif_pipeline.store.files"):
        assert GRAPH[name] == set(), name


def test_no_module_reads_sensors_or_bem_from_the_template():
    """The lead field is a provider's (head/leadfields); the template declares its frame and knows no sensors."""
    readers = [f"{path.relative_to(REPO)}:{i}" for path in [*MODULES.values(), REPO / "pipeline_orchestrator.py"]
               for i, line in enumerate(path.read_text().splitlines(), start=1)
               if any(text in line for text in ("template.sensors", "template.bem", 'getattr(template, "sensors"',
                                                'getattr(template, "bem"', "ctx.template.sensors"))]
    assert readers == []
    from deepsif_pipeline.head.anatomy import Template
    assert not {"sensors", "bem"} & set(Template.__dataclass_fields__)


def test_the_orchestrator_reads_as_the_story_of_one_command():
    text = (REPO / "pipeline_orchestrator.py").read_text()
    assert len(text.splitlines()) <= 300
    tree = ast.parse(text)
    nested = [node.lineno for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
              and node not in tree.body]
    assert nested == [], "imports sit at the top"
