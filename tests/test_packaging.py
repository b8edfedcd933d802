"""Install contract: pyproject.toml is the single source of dependencies, environment.yml agrees
with it, every sub-package ships, and the README's two set-up commands are the ones CI runs."""

from __future__ import annotations

import ast
import re
import shlex
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
EXTRAS = PROJECT.get("optional-dependencies", {})
CORE = {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]}
ALL = CORE | {canonicalize_name(Requirement(r).name) for reqs in EXTRAS.values() for r in reqs}
PYTHONS = [Version(f"3.{minor}") for minor in range(6, 20)]


def _environment() -> dict:
    path = ROOT / "environment.yml"
    assert path.exists(), "environment.yml (conda users) is missing at the repository root"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _conda_spec(spec: str) -> tuple[str, SpecifierSet]:
    """``python>=3.11``, ``python=3.12`` (conda: 3.12.*), ``python 3.11.*`` -> name, specifier."""
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", spec)
    name, rest = m.group(1), m.group(2).replace(" ", "")
    if re.match(r"^=[^=]", rest):
        rest = "=" + rest + ("" if rest.endswith("*") else ".*")
    elif rest and rest[0].isdigit():
        rest = "==" + rest
    return name, SpecifierSet(rest)


def test_environment_yml_agrees_with_pyproject():
    env = _environment()
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = [x for d in deps if isinstance(d, dict) for x in d.get("pip", [])]
    names = {_conda_spec(d)[0].lower(): _conda_spec(d)[1] for d in conda}
    assert "python" in names and "pip" in names, "conda must provide python and pip"
    # the same Python versions: every version conda may pick is allowed by requires-python,
    # and the oldest allowed is the same
    requires = SpecifierSet(PROJECT["requires-python"])
    env_ok = [v for v in PYTHONS if names["python"].contains(v)]
    py_ok = [v for v in PYTHONS if requires.contains(v)]
    assert env_ok and set(env_ok) <= set(py_ok), (names["python"], requires)
    assert min(env_ok) == min(py_ok), (
        f"environment.yml starts at {min(env_ok)}, pyproject at {min(py_ok)}"
    )
    # every other conda package and every pip requirement is named in pyproject.toml
    for name in set(names) - {"python", "pip"}:
        assert canonicalize_name(name) in ALL, f"{name} (environment.yml) is not in pyproject.toml"
    assert pip, "environment.yml must install the project with pip"
    installs_project = False
    for item in pip:
        words = shlex.split(item)
        target = words[-1]
        if target.startswith("."):  # the project itself, maybe with extras
            installs_project = True
            extras = re.findall(r"\[([^\]]*)\]", target)
            for extra in extras[0].split(",") if extras else []:
                assert extra.strip() in EXTRAS, f"extra [{extra}] is not in pyproject.toml"
        else:
            assert canonicalize_name(Requirement(target).name) in ALL, (
                f"{target} is not in pyproject.toml"
            )
    assert installs_project, "environment.yml must pip-install the project (`-e .` or `.`)"


def test_every_subpackage_is_packaged():
    """A non-editable `pip install .` ships only the packages listed in pyproject.toml."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    mapped = set(PYPROJECT["tool"]["setuptools"].get("package-dir", {}))
    pkg = ROOT / "parcours_research"
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in pkg.rglob("__init__.py")
        if not any(part.startswith((".", "__pycache__")) for part in p.relative_to(ROOT).parts)
    }
    found = {
        f for f in found if f not in mapped
    }  # parcours_research.instruments comes from surveys/
    missing = sorted(found - listed)
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml"
    # the questionnaires researchers edit live in surveys/, shipped through a symbolic link
    assert "parcours_research.instruments" in listed
    link = pkg / "instruments"
    assert link.is_symlink() and link.resolve() == (ROOT / "surveys").resolve()
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    assert (
        "*.yml" in data["parcours_research.instruments"]
        and "*.yml" in data["parcours_research.templates"]
    )
    assert PROJECT["scripts"]["parcours"] == "parcours_research.cli:main"


def _imports(path: Path) -> list[tuple[str, bool]]:
    """Top-level names of absolute imports, and whether each runs on import of the module
    (module level, outside try/except)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []

    def visit(node, eager):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                out.extend((a.name.split(".")[0], eager) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                out.append((child.module.split(".")[0], eager))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Try | ast.If):
                visit(child, False)
            else:
                visit(child, eager)

    visit(tree, True)
    return out


def test_every_import_is_a_declared_dependency():
    """Third-party modules imported at module level are core dependencies; the ones imported
    lazily are declared in the core or in an extra (not merely present as someone else's
    dependency)."""
    from importlib.metadata import packages_distributions

    dists = packages_distributions()
    problems = []
    for path in sorted((ROOT / "parcours_research").rglob("*.py")):
        for module, eager in _imports(path):
            if module in sys.stdlib_module_names or module in ("parcours_research", "__future__"):
                continue
            names = {canonicalize_name(d) for d in dists.get(module, [module])}
            pool = CORE if eager else ALL
            if not names & pool:
                where = path.relative_to(ROOT)
                problems.append(
                    f"{where}: imports {module} ({', '.join(sorted(names))}) "
                    f"{'at module level: add it to [project] dependencies' if eager else 'lazily: declare it in pyproject.toml'}"
                )
    assert not problems, "\n".join(dict.fromkeys(problems))


def _fenced_blocks(text: str) -> list[tuple[str, str]]:
    return [
        (m.group(1).strip().lower(), m.group(2))
        for m in re.finditer(r"^```([^\n]*)\n(.*?)^```", text, re.M | re.S)
    ]


def _readme_commands() -> list[str]:
    readme = ROOT / "README.md"
    assert readme.exists(), "README.md is missing"
    blocks = _fenced_blocks(readme.read_text(encoding="utf-8"))
    assert len(blocks) >= 2, "the README must open with two fenced set-up commands"
    commands = []
    for lang, body in blocks[:2]:
        assert lang in ("bash", "sh", "shell", "console"), (
            f"the first two fenced blocks must be shell, not {lang!r}"
        )
        lines = [line.strip().removeprefix("$ ") for line in body.splitlines() if line.strip()]
        assert len(lines) == 1, f"each set-up block holds one command line, not {lines}"
        commands.append(lines[0])
    return commands


def test_readme_opens_with_the_two_setup_commands():
    install_run, install_test = _readme_commands()
    # 1. install the kit, and run the main job on the bundled sample study
    assert re.search(r"pip install\s+(-e\s+)?[\"']?\.(\[notebooks\])?[\"']?(\s|$)", install_run + " "), install_run
    # ... with what it takes to open the notebooks afterwards (jupyter lab)
    assert "[notebooks]" in install_run and any(r.startswith("jupyterlab") for r in EXTRAS["notebooks"])
    assert "data/sample" in install_run and (ROOT / "data" / "sample" / "study.yml").exists()
    from parcours_research.cli import build_parser

    verbs = set(build_parser()._subparsers._group_actions[0].choices)
    for verb in re.findall(r"\bparcours\s+(\w+)", install_run):
        assert verb in verbs, f"`parcours {verb}` in the README is not a verb"
    # 2. install what the tests need, and run the whole suite
    assert re.search(r"pip install\s+(-e\s+)?[\"']?\.\[[^\]]*\btest\b", install_test), install_test
    assert re.search(r"(^|&&\s*|\s)(python -m )?pytest(\s|$)", install_test + " "), install_test
    assert "test" in EXTRAS


def test_ci_runs_the_readme_test_command():
    run = ROOT / ".ci" / "run"
    assert run.exists(), ".ci/run is missing"
    _, install_test = _readme_commands()
    lines = [line.strip() for line in run.read_text(encoding="utf-8").splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    assert install_test in commands, (
        f".ci/run must call the README's test command exactly: {install_test}"
    )


@pytest.mark.parametrize("path", ["environment.yml", "README.md", ".ci/run", "pyproject.toml"])
def test_top_level_layout(path):
    assert (ROOT / path).exists()
    for folder in ("notebooks", "parcours_research", "surveys", "data", "tests", "benchmarks"):
        assert (ROOT / folder).is_dir(), folder


def test_every_public_module_is_reachable_from_the_package():
    """``pr.<module>`` works in a fresh interpreter for every public module (lazy imports)."""
    import subprocess
    import sys

    modules = sorted(
        p.stem if p.is_file() else p.name
        for p in (ROOT / "parcours_research").iterdir()
        if not p.name.startswith("_")
        and (p.suffix == ".py" or (p / "__init__.py").exists())
        and p.name not in ("instruments", "templates")
    )
    code = "import parcours_research as pr\n" + "\n".join(f"pr.{m}" for m in modules)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_license_file_holds_the_declared_license():
    """pyproject declares BSD-3-Clause and the LICENSE at the root, which setuptools ships in
    the wheel and the sdist (its default ``license-files`` patterns include ``LICEN[CS]E*``),
    holds that licence's three clauses and disclaimer."""
    from fnmatch import fnmatch

    declared = PROJECT["license"]
    declared = declared.get("text") if isinstance(declared, dict) else declared
    assert declared == "BSD-3-Clause"
    path = ROOT / "LICENSE"
    assert path.exists(), "LICENSE is missing at the repository root"
    text = " ".join(path.read_text(encoding="utf-8").split())
    assert re.search(r"Copyright \(c\) 20\d\d, parcours_research developers", text)
    for clause in (
        "Redistributions of source code must retain the above copyright notice, this list of "
        "conditions and the following disclaimer.",
        "Redistributions in binary form must reproduce the above copyright notice, this list of "
        "conditions and the following disclaimer in the documentation and/or other materials "
        "provided with the distribution.",
        "Neither the name of the copyright holder nor the names of its contributors may be used "
        "to endorse or promote products derived from this software without specific prior "
        "written permission.",
        'THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"',
    ):
        assert clause in text, clause
    patterns = PROJECT.get("license-files") or PYPROJECT["tool"]["setuptools"].get(
        "license-files", ["LICEN[CS]E*"]
    )
    assert any(fnmatch("LICENSE", p) for p in patterns), patterns
