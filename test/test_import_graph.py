"""The library's layers: no import cycles in sam2core, and the drawing helpers, the message
conversions and the prompt rules (point labels, a box as two corners; the tracker's prompt
checks) load no model code (so that a tool that draws, converts results or makes prompts starts
fast and stays independent of the model)."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL_STACK = ("sam2core.modeling", "sam2core.tracking.tracker")
LIGHT_MODULES = ("sam2core.visualization", "sam2_ros.conversions", "sam2core.point_labels", "sam2core.tracking.prompt")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The modules of `modules` that importing `path` runs: each imported module, a name imported
    from a package when it is a submodule, and the packages above them that the importer is not
    inside (those already run)."""
    importer = module_name(path)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            named.add(base)
            named.update(f"{base}.{alias.name}" for alias in node.names)
    result = set()
    for name in named:
        parts = name.split(".")
        for end in range(1, len(parts) + 1):
            candidate = ".".join(parts[:end])
            if candidate in modules and candidate != importer and not package.startswith(candidate):
                result.add(candidate)
    return result


def import_graph(top: str) -> dict[str, set[str]]:
    paths = sorted((ROOT / top).rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imports_of(path, modules) for path in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), or a module that
    imports itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1 or module in graph[module]:
                found.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    return found


def test_the_graph_sees_imports_of_every_form():
    graph = import_graph("sam2core")
    assert "sam2core.data.scene" in graph["sam2core.data.figure_paths"]  # from package.module import name
    assert "sam2core.data.figure_paths" in graph["sam2core.data.geometric"]  # from package import module
    assert "sam2core.modeling.sam2" in graph["sam2core.image_predictor"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_sam2core_has_no_import_cycle():
    assert cycles(import_graph("sam2core")) == []


def test_drawing_and_message_code_load_no_model():
    code = "import sys\n" + "".join(f"import {module}\n" for module in LIGHT_MODULES)
    code += "print('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    model_modules = [
        module for module in loaded.stdout.split() if any(module.startswith(stack) for stack in MODEL_STACK)
    ]
    assert model_modules == [], f"{LIGHT_MODULES} load the model stack: {model_modules}"
