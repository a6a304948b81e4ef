"""The evaluation core and the policy model import no web framework, HTTP client, OS or clock."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "cds_service"
CORE = sorted((PACKAGE / "evaluation").glob("*.py")) + sorted((PACKAGE / "policy").glob("*.py"))
FORBIDDEN = {"flask", "requests", "os", "time", "socket", "subprocess", "urllib", "http", "sqlite3", "werkzeug"}


@pytest.mark.parametrize("path", CORE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_core_module_imports_nothing_with_side_effects(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN, f"{path.name} imports {sorted(imported & FORBIDDEN)}"


def test_the_core_is_not_empty():
    assert len(CORE) >= 8
