"""The import rule of docs/design.md: each layer imports only the layers below it.

    core      names, config, metrics, imaging, storage, experiment, baseline, lineage, log, data/
    training  TensorFlow, never Ray
    tuning    Ray and training
    analysis  reads experiments: core and training, never tuning
    commands  confirm.py and cli.py, on top

Checked on the source (every import statement, at module top or inside a
function), so a late import cannot hide a wrong-way dependency.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vae_tune"
LAYERS = ["core", "training", "tuning", "analysis", "commands"]
# What each layer may import, besides itself and the layers listed.
MAY_IMPORT = {
    "core": set(),
    "training": {"core"},
    "tuning": {"core", "training"},
    "analysis": {"core", "training"},
    "commands": {"core", "training", "tuning", "analysis"},
}
FORBIDDEN_LIBRARIES = {"core": {"ray", "tensorflow", "keras"}, "training": {"ray"}, "analysis": set(), "tuning": set(),
                       "commands": set()}
# The one core function that builds a tf.data pipeline imports TensorFlow inside itself.
ALLOWED = {("vae_tune.data.dataset", "tensorflow")}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ("training", "tuning", "analysis"):
        return parts[1]
    if len(parts) > 1 and parts[1] in ("confirm", "cli"):
        return "commands"
    return "core"


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        yield name, ast.parse(path.read_text())


def imported(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "vae_tune":  # from vae_tune import metrics
                yield from (f"vae_tune.{alias.name}" for alias in node.names)
            else:
                yield node.module


@pytest.mark.parametrize("module,tree", list(modules()), ids=lambda value: value if isinstance(value, str) else "")
def test_imports_go_one_way(module, tree):
    layer = layer_of(module)
    for name in imported(tree):
        top = name.split(".")[0]
        if top == "vae_tune":
            target = layer_of(name)
            assert target == layer or target in MAY_IMPORT[layer], f"{module} ({layer}) imports {name} ({target})"
        elif (module, top) not in ALLOWED:
            assert top not in FORBIDDEN_LIBRARIES[layer], f"{module} ({layer}) imports {top}"


def test_the_rule_sees_a_wrong_way_import():
    """The check itself: a training module importing Ray, or analysis importing tuning, is caught."""
    wrong = ast.parse("import ray\nfrom vae_tune.tuning.session import run_study\n")
    names = list(imported(wrong))
    assert "ray" in FORBIDDEN_LIBRARIES["training"] and names[0] == "ray"
    assert layer_of(names[1]) == "tuning" and "tuning" not in MAY_IMPORT["analysis"]
