"""The package's imports only go down: command line -> steps -> evaluation -> file formats ->
shared tools, with no cycle anywhere. Read from the source with `ast`, lazy imports inside
functions included, so a violation fails here before it confuses a reader."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "deepfake_pipeline"

# Lower numbers sit lower. Packages on the same level may not import one another: each step
# stands on the layers below it only.
LAYERS = {
    "": 0,  # deepfake_pipeline/__init__.py: the version string
    "common": 1,
    "formats": 2,
    "evaluation": 3,
    "ingest": 4,
    "augment": 5,  # derived splits reuse step 1's engine (ingest/shards.py)
    "features": 4,
    "demo": 4,
    "reporting": 4,  # make_table.py: tables read from finished run folders
    "baseline": 5,
    "fusion": 5,  # fuse_runs.py: fits on finished runs' scores, reported like a step-3 run
    "contrastive": 6,
    "cli": 7,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set) -> set:
    """The package modules that `path` imports (a `from X import name` counts X.name when that
    is a module, else X)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("deepfake_pipeline")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("deepfake_pipeline"):
                continue
            for alias in node.names:
                child = f"{target}.{alias.name}"
                found.add(child if child in modules else target)
    return found & modules


def graph() -> dict:
    files = {module_name(f): f for f in PACKAGE.rglob("*.py")}
    return {name: imported_modules(path, set(files)) for name, path in files.items()}


def layer_of(module: str) -> tuple:
    parts = module.split(".")
    sub = parts[1] if len(parts) > 1 else ""
    return sub, LAYERS[sub]


def test_every_subpackage_has_a_layer():
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert subpackages <= set(LAYERS), f"give {sorted(subpackages - set(LAYERS))} a layer in LAYERS"
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert not loose, f"modules outside the layers: {loose}"


def test_imports_only_go_down():
    upward = []
    for module, targets in graph().items():
        own, level = layer_of(module)
        for target in targets:
            other, other_level = layer_of(target)
            if other != own and other_level >= level:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that do not go down a layer:\n" + "\n".join(sorted(upward))


def test_no_import_cycle():
    edges = graph()
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges[node]):
            if target == node or target.startswith(node + "."):
                continue  # a package importing its own submodule is not a cycle
            if state.get(target) == "open":
                cycles.append(" -> ".join(stack[stack.index(target) :] + [target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_checker_sees_a_planted_upward_import(tmp_path, monkeypatch):
    """The checks above must be able to fail: a formats module importing a step is caught."""
    fake = tmp_path / "deepfake_pipeline"
    for sub in ("formats", "baseline"):
        (fake / sub).mkdir(parents=True)
        (fake / sub / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "formats" / "thing.py").write_text("from deepfake_pipeline.baseline import step\n")
    (fake / "baseline" / "step.py").write_text("from deepfake_pipeline.formats import thing\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    edges = graph()
    assert edges["deepfake_pipeline.formats.thing"] == {"deepfake_pipeline.baseline.step"}
    try:
        test_imports_only_go_down()
    except AssertionError as error:
        assert "formats.thing -> deepfake_pipeline.baseline.step" in str(error)
    else:
        raise AssertionError("the upward import was not reported")
    try:
        test_no_import_cycle()
    except AssertionError as error:
        assert "import cycles" in str(error)
    else:
        raise AssertionError("the cycle was not reported")


def test_default_paths_anchor_on_the_repository_root():
    """Every default path derives from REPO_ROOT: moving formats/paths.py a level down once sent
    the demo's data and results into the package folder."""
    from deepfake_pipeline.formats import paths

    root = PACKAGE.parent
    assert paths.REPO_ROOT == root
    assert all(
        (root / script).is_file()
        for script in ("preprocess_datasets.py", "features.py", "eval_logreg.py", "train_contrastive.py")
    )
    assert paths.INTERIM_DIR == root / "data" / "interim" and paths.RESULTS_DIR == root / "results"
