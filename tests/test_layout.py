"""The layers and rooms a newcomer relies on: registered names, one MLflow schema, no Ray or MLflow under the recipes."""
import ast
import re
from pathlib import Path

import pytest

from search.config import SearchConfig
from search.errors import ConfigError, UnknownName
from search.spaces import SPACES, DefineByRun, SpaceLimits, create_space
from search.tracking import schema

REPO = Path(__file__).resolve().parents[1]


def imports(folder: str) -> dict[str, set[str]]:
    """file -> the modules it imports (absolute names; relative ones resolved against the folder's package)."""
    out = {}
    for path in (REPO / folder).rglob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
        out[str(path.relative_to(REPO))] = found
    return out


@pytest.mark.parametrize("flag", ["space", "strategy"])
def test_an_unknown_space_or_strategy_is_a_one_line_config_error(flag):
    with pytest.raises(ConfigError, match=rf"unknown {flag} 'nope': choose one of") as raised:
        SearchConfig(**{flag: "nope"})
    assert "\n" not in str(raised.value)


def test_a_searcher_restored_with_an_unknown_space_name_says_so_instead_of_sampling_another_space():
    with pytest.raises(UnknownName, match="unknown space 'gone'"):
        DefineByRun("gone", SpaceLimits(depths=(1, 2), max_patch=64))(trial=None)


def test_analysis_reads_the_search_only_through_its_schema():
    used = {f: {m for m in mods if m == "search" or m.startswith("search.")} for f, mods in imports("analysis").items()}
    assert {f: m for f, m in used.items() if m - {"search.tracking.schema"}} == {}
    assert any(used.values())  # it does read the schema


@pytest.mark.parametrize("folder", ["recipes", "unet_core", "datasets"])
def test_the_recipe_layers_import_neither_ray_nor_mlflow_nor_the_search(folder):
    bad = {f: sorted(m for m in mods if m.split(".")[0] in ("ray", "mlflow", "search", "analysis")) for f, mods in imports(folder).items()}
    assert {f: m for f, m in bad.items() if m} == {}


def test_the_schema_names_the_spaces_that_sample_their_recipe_as_the_registry_does():
    assert schema.RECIPE_SAMPLING_SPACES == tuple(n for n in SPACES if not create_space(n).fixed_recipe)
    assert schema.BATCH_SAMPLING_SPACES == tuple(n for n in SPACES if create_space(n).samples_width)


def test_search_rooms_stay_small_and_branch_on_no_space_or_strategy_name():
    long_files, long_functions, branches = [], [], []
    for path in (REPO / "search").rglob("*.py"):
        text = path.read_text()
        name = str(path.relative_to(REPO))
        if len(text.splitlines()) > 300:
            long_files.append(name)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                long_functions.append(f"{name}:{node.name}")
        branches += [f"{name}: {m.group(0)}" for m in re.finditer(r"\b(strategy|space)\s*(==|!=|in|not in)\s*[\"'(\[]", text)]
    assert (long_files, long_functions, branches) == ([], [], [])
