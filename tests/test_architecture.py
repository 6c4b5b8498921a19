"""The layering rules of resume_ner/, checked on the source: no import cycle, errors at the
bottom, the CLI boundary imported only by the entrypoints, and a core that loads without
torch, Hydra or OmegaConf."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "resume_ner"

# The command-line entrypoints: the only modules that may import resume_ner.cli.
ENTRYPOINTS = {
    "resume_ner.cli",
    "resume_ner.train.app",
    "resume_ner.train.__main__",
    "resume_ner.data.__main__",
    "resume_ner.predict",
    "resume_ner.evaluate",
    "resume_ner.select",
    "resume_ner.convert.__main__",
    "resume_ner.azure.__main__",
    "resume_ner.serve.__main__",
}
# The core: what the service and the ONNX path use; it must load without heavy libraries.
CORE = (
    "resume_ner.inference",
    "resume_ner.windows",
    "resume_ner.decoding",
    "resume_ner.span_conventions",
    "resume_ner.word_features",
)
HEAVY = ("torch", "transformers", "hydra", "omegaconf", "mlflow", "azure.ai.ml", "onnxruntime")


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports, at the top or inside functions alike."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    targets.add(submodule if submodule in modules else node.module)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_one():
    """The checker itself: a crafted cycle is found, a tree is not."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_graph_has_no_cycle():
    graph = import_graph(_modules())
    assert len(graph) > 30  # the walk saw the package
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_only_the_entrypoints_import_the_cli():
    graph = import_graph(_modules())
    importers = {name for name, targets in graph.items() if "resume_ner.cli" in targets}
    assert importers, "no entrypoint imports resume_ner.cli: the walk is broken"
    assert importers <= ENTRYPOINTS, f"below the entrypoints: {sorted(importers - ENTRYPOINTS)}"


def test_errors_are_the_bottom_layer():
    graph = import_graph(_modules())
    assert graph["resume_ner.errors"] == set()


def test_user_errors_are_plain_exceptions():
    """Library code raises them and a caller (a sweep trial) may catch them and go on."""
    from resume_ner import errors

    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, BaseException)
    ]
    assert len(classes) >= 9
    for cls in classes:
        assert issubclass(cls, errors.UserError) and issubclass(cls, Exception), cls
        assert not issubclass(cls, SystemExit), cls


@pytest.mark.slow
def test_the_core_imports_no_heavy_library():
    code = (
        "import json, sys\n"
        f"for name in {list(CORE)!r}:\n"
        "    __import__(name)\n"
        f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
