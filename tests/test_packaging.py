"""pyproject.toml's [project] table against the files it must agree with: the direct dependencies
and pins of requirements.in, the version in deepfake_pipeline/__init__.py, and entry points that
name real `main` functions. And where an installed (not checked-out) package puts data/ and
results/: the current directory, while a checkout keeps its own root."""

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirements_in() -> dict:
    pins = {}
    for line in (ROOT / "requirements.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def _pins(requirements) -> dict:
    pins = {}
    for requirement in requirements:
        name, version = requirement.split("==")
        pins[name.lower().replace("_", "-")] = version
    return pins


def test_dependencies_are_requirements_in_with_the_same_pins():
    project = _project()
    wanted = _requirements_in()
    # pip installs, it is not imported; pytest runs the tests only, ruff and mypy the checks.
    tools = ("pip", "pytest", "ruff", "mypy")
    assert _pins(project["dependencies"]) == {k: v for k, v in wanted.items() if k not in tools}
    assert _pins(project["optional-dependencies"]["test"]) == {"pytest": wanted["pytest"]}
    assert _pins(project["optional-dependencies"]["dev"]) == {k: wanted[k] for k in ("pytest", "ruff", "mypy")}
    assert "torch==2.13.0" in project["dependencies"]


def test_the_version_is_the_packages_own():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in pyproject["project"]["dynamic"] and "version" not in pyproject["project"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "deepfake_pipeline.__version__"}
    text = (ROOT / "deepfake_pipeline" / "__init__.py").read_text()
    (version,) = re.findall(r'^__version__ = "([^"]+)"$', text, re.M)
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    # CONTRIBUTING: the version changes with a CHANGELOG entry
    headings = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert headings and headings[0] == version, f"CHANGELOG.md's newest entry is {headings[:1]}, not {version}"


def test_entry_points_name_the_scripts_main_functions():
    scripts = _project()["scripts"]
    expected = {
        "deepfake-preprocess": "preprocess_datasets.py",
        "deepfake-features": "features.py",
        "deepfake-eval-logreg": "eval_logreg.py",
        "deepfake-train-contrastive": "train_contrastive.py",
    }
    for name, script in expected.items():
        module, function = scripts[name].split(":")
        assert callable(getattr(importlib.import_module(module), function))
        # the script of a checkout calls the same function
        assert f"from {module} import {function}" in (ROOT / script).read_text()
    module, function = scripts["deepfake-demo"].split(":")
    assert callable(getattr(importlib.import_module(module), function))


def test_an_installed_package_puts_data_and_results_in_the_current_directory(tmp_path):
    """The same paths.py, laid out as pip installs it (lib/python3.X/site-packages/...), with no
    repository above: the defaults hang from the directory the command runs in, and no git
    commit is claimed for it."""
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    for module in ("__init__.py", "formats/__init__.py", "formats/paths.py", "formats/provenance.py"):
        target = site / "deepfake_pipeline" / module
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((ROOT / "deepfake_pipeline" / module).read_text())
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)  # someone else's repository
    code = (
        "from deepfake_pipeline.formats import paths, provenance; "
        "print(paths.CHECKOUT_ROOT); print(paths.RESULTS_DIR); print(paths.INTERIM_DIR); "
        "print(paths.RAW_DIR / 'asvspoof'); print(provenance.git_commit()['commit'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site)},
    )
    checkout, results, interim, raw, commit = done.stdout.splitlines()
    assert checkout == "None" and commit == "unknown"
    assert results == str(work.resolve() / "results")
    assert interim == str(work.resolve() / "data" / "interim")
    assert raw == str(work.resolve() / "data" / "raw" / "asvspoof")


def test_a_checkout_keeps_its_own_root_whatever_the_current_directory(tmp_path):
    code = "from deepfake_pipeline.formats import paths; print(paths.CHECKOUT_ROOT); print(paths.RESULTS_DIR)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert done.stdout.splitlines() == [str(ROOT), str(ROOT / "results")]
