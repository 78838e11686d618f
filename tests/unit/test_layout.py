"""The layers and rooms a newcomer relies on: registered names, one MLflow schema, no Ray or MLflow under the recipes."""
import ast
import re

import pytest

from search.config import SearchConfig
from search.errors import ConfigError, UnknownName
from search.spaces import SPACES, DefineByRun, SpaceLimits, create_space
from search.tracking import schema
from tests.helpers.paths import REPO

PRODUCT = ("search", "recipes", "unet_core", "datasets", "analysis")  # the caps and the acyclic imports hold in every product package


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


def test_product_rooms_stay_small_and_search_branches_on_no_space_or_strategy_name():
    long_files, long_functions, branches = [], [], []
    for path in (p for package in PRODUCT for p in (REPO / package).rglob("*.py")):
        text = path.read_text()
        name = str(path.relative_to(REPO))
        if len(text.splitlines()) > 300:
            long_files.append(name)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                long_functions.append(f"{name}:{node.name}")
        if name.startswith("search/"):
            branches += [f"{name}: {m.group(0)}" for m in re.finditer(r"\b(strategy|space)\s*(==|!=|in|not in)\s*[\"'(\[]", text)]
    assert (long_files, long_functions, branches) == ([], [], [])


def module_file(name: str) -> str | None:
    """The product file a dotted module name is: a.b -> a/b.py or a/b/__init__.py (None outside the product)."""
    if name.split(".")[0] not in PRODUCT:
        return None
    base = REPO.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return str(path.relative_to(REPO))
    return None


def import_graph() -> dict[str, set[str]]:
    """file -> the product files it imports, function-local imports included (a cycle through one is still a cycle)."""
    graph = {}
    for package in PRODUCT:
        for path in (REPO / package).rglob("*.py"):
            name = str(path.relative_to(REPO))
            here = name.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
            parts = here.split(".") if path.name == "__init__.py" else here.split(".")[:-1]  # the package relative imports start from
            targets = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    targets |= {module_file(a.name) for a in node.names}
                elif isinstance(node, ast.ImportFrom):
                    stem = ".".join(parts[: len(parts) - node.level + 1] if node.level else []) if node.level else ""
                    module = ".".join(p for p in (stem, node.module or "") if p)
                    for alias in node.names:  # `from pkg import mod` imports the module pkg/mod.py; `from mod import name` the module
                        targets.add(module_file(f"{module}.{alias.name}") or module_file(module))
            graph[name] = {t for t in targets if t and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_product_imports_form_no_cycle():
    graph = import_graph()
    assert graph["datasets/registry.py"] >= {"datasets/store.py", "datasets/drive.py"}  # the graph sees relative imports
    assert "search/config.py" in graph["search/driver/tuner.py"]  # and absolute ones
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]  # and the search finds a planted one
    assert cycles(graph) == []


def test_a_project_import_inside_a_function_says_why():
    """A function-local import of a project module defers something heavy (Ray, MLflow, torch, ...) or keeps a load order,
    and says which on its line (`# deferred: ...`) or on a comment line right above; one that defers nothing goes to the top."""
    silent = []
    for path in (p for package in PRODUCT for p in sorted((REPO / package).rglob("*.py"))):
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        nested = {n for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
        for node in sorted(nested, key=lambda n: n.lineno):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            project = getattr(node, "level", 0) or any(n.split(".")[0] in PRODUCT for n in names)
            above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
            if project and "#" not in lines[node.lineno - 1] and not above.startswith("#"):
                silent.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert silent == []
