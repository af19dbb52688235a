"""One place per name (docs/design.md): a result key, results column or file name that more than one
module uses is spelled in vae_tune/names.py and imported, never typed again.

Checked on the source: every string constant of the package (docstrings aside) that looks like a key.
"""

import ast
import dataclasses
import re
import typing
from collections import defaultdict
from pathlib import Path

from vae_tune import names
from vae_tune.config import StudyConfig

PACKAGE = Path(__file__).resolve().parent.parent / "vae_tune"
NAMESPACED = re.compile(r"^[a-z][a-z0-9_]*(/[a-z0-9_]+)+$")  # val/blur, device/summary, best_val/psnr
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")  # resumed_from_epoch, best_checkpoint


def config_fields(cls=StudyConfig) -> set[str]:
    """Every key of a study: spelled once, as a field of its config dataclass, and free to appear as a string."""
    fields = set()
    for name, hint in typing.get_type_hints(cls).items():
        fields.add(name)
        if dataclasses.is_dataclass(hint):
            fields |= config_fields(hint)
    return fields


def _docstrings(tree: ast.AST) -> set[int]:
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}


def _used_as_keys(tree: ast.AST) -> set[int]:
    """The constants a dict or table is indexed with, built with, or asked about: x["k"], {"k": v}, "k" in x, x.get("k")."""
    keys = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            keys.append(node.slice)
        elif isinstance(node, ast.Dict):
            keys.extend(key for key in node.keys if key is not None)
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            keys.append(node.left)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "pop") and node.args:
            keys.append(node.args[0])
    return {id(key) for key in keys}


def key_literals(source: str) -> set[str]:
    """The key-like string constants of one module: namespaced ones anywhere, snake_case ones used as keys."""
    tree = ast.parse(source)
    docstrings, as_keys = _docstrings(tree), _used_as_keys(tree)
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str) or id(node) in docstrings:
            continue
        if NAMESPACED.match(node.value) or (id(node) in as_keys and SNAKE.match(node.value)):
            found.add(node.value)
    return found


def repeated_keys(sources: dict[str, str], allowed: set[str]) -> dict[str, list[str]]:
    """Each key literal found in more than one module, with those modules."""
    modules = defaultdict(list)
    for module, source in sources.items():
        for literal in key_literals(source) - allowed:
            modules[literal].append(module)
    return {literal: sorted(where) for literal, where in modules.items() if len(where) > 1}


def package_sources() -> dict[str, str]:
    return {str(path.relative_to(PACKAGE.parent)): path.read_text() for path in sorted(PACKAGE.rglob("*.py"))
            if path.name != "names.py"}


def test_no_key_is_spelled_in_two_modules():
    repeated = repeated_keys(package_sources(), allowed=config_fields())
    assert not repeated, "spell these once in vae_tune/names.py and import them: " + "; ".join(
        f"{literal!r} in {', '.join(where)}" for literal, where in sorted(repeated.items()))


def test_no_module_retypes_a_name_of_names_py():
    """A key names.py spells (one with a / or _) typed again anywhere else can drift from it unnoticed."""
    spelled = {value for value in vars(names).values() if isinstance(value, str) and (NAMESPACED.match(value) or SNAKE.match(value))}
    retyped = {module: sorted(key_literals(source) & spelled) for module, source in package_sources().items()}
    assert not {module: found for module, found in retyped.items() if found}


def test_the_check_sees_a_key_typed_in_two_modules():
    """The check itself: the same result key typed in a trainer and a progress printer is caught; a config
    field, a key used once, or one taken from names.py is not."""
    trainer = 'result = {"device/summary": devices, "resumed_from_epoch": 0, "kl_weight": 0.1}\nlabel = "a_b"\n'
    printer = ('print(result.get("device/summary"))\nif "resumed_from_epoch" in result: pass\n'
               'weight = params["kl_weight"]\nonce = row["only_here"]\nlabel = "a_b"\n')
    repeated = repeated_keys({"trainer.py": trainer, "progress.py": printer}, allowed={"kl_weight"})
    assert repeated == {"device/summary": ["progress.py", "trainer.py"], "resumed_from_epoch": ["progress.py", "trainer.py"]}
    assert key_literals('"""val/blur in a docstring"""\nfrom names import BLUR\nx = row[BLUR]\n') == set()
