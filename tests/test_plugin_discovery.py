"""Hydra finds the project's plugins (launchers/hydra_plugins) wherever the project is installed.

Hydra's plugin scan is pkgutil.walk_packages over `hydra_plugins.__path__`. An editable install
made that path an import-hook placeholder pkgutil cannot list, so the sweeper was never found;
pyproject.toml now lists the `hydra_plugins` namespace itself (its comment says why).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAUNCHERS = REPO / "launchers" / "hydra_plugins"


def _names(classes) -> set[str]:
    return {cls.__name__ for cls in classes}


def test_hydra_discovers_the_sweeper_in_this_environment():
    """The environment the suite runs in (scripts/setup.sh: an editable install)."""
    from hydra.core.plugins import Plugins
    from hydra.plugins.sweeper import Sweeper

    import hydra_plugins

    # Imported first, as the entry points do (register_configs), so that this test is about
    # the scan finding the module; loading it cold is the next test's subject.
    import hydra_plugins.resume_ner_launcher.sweeper

    walkable = [entry for entry in hydra_plugins.__path__ if Path(entry).is_dir()]
    assert walkable, f"no directory pkgutil can walk in {list(hydra_plugins.__path__)}"
    assert "ResumeNerSweeper" in _names(Plugins.instance().discover(Sweeper))


def test_the_sweeper_module_loads_the_way_hydras_scan_loads_it():
    """When Hydra's scan meets a plugin module nobody imported yet, it runs it with
    module_from_spec + exec_module and only then puts it in sys.modules. A dataclass under
    `from __future__ import annotations` cannot be built that way (dataclasses looks up
    sys.modules[cls.__module__] to read string annotations: AttributeError on None), and the
    scan lets that error through, so every Hydra app not importing the sweeper first dies."""
    import importlib.util

    path = LAUNCHERS / "resume_ner_launcher" / "sweeper.py"
    # A name that is not in sys.modules, whatever other tests imported: the scan's first meeting.
    spec = importlib.util.spec_from_file_location("_resume_ner_sweeper_cold_scan", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.ResumeNerSweeper.__name__ == "ResumeNerSweeper"


def test_every_package_is_listed_for_setuptools():
    """pyproject.toml lists packages by hand: one missing there is missing from the wheel, and
    without `hydra_plugins` itself an editable install hides launchers/ from Hydra."""
    tomllib = pytest.importorskip("tomllib")
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )

    def packages(root: Path, prefix: str) -> set[str]:
        return {
            ".".join((prefix, *init.parent.relative_to(root).parts))
            for init in root.rglob("__init__.py")
            if "__pycache__" not in init.parts
        }

    expected = packages(REPO / "resume_ner", "resume_ner") | packages(LAUNCHERS, "hydra_plugins")
    expected |= {"resume_ner.conf", "hydra_plugins"}
    assert expected - listed == set(), "add these to [tool.setuptools] packages"
    # A namespace shared with every other Hydra plugin: an __init__.py would shadow theirs.
    assert not (LAUNCHERS / "__init__.py").exists()


@pytest.mark.slow
def test_hydra_discovers_the_sweeper_from_the_wheel(tmp_path):
    # Build from a copy, so setuptools' build/ and *.egg-info never land in the working tree.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.cfg", "README.md"):
        shutil.copy(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("conf", "resume_ner", "launchers"):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [sys.executable, "-m", "pip"]
    wheels = tmp_path / "wheels"
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(source)],
        check=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("resume_ner-*.whl")
    site = tmp_path / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert (site / "hydra_plugins" / "resume_ner_launcher" / "sweeper.py").is_file()
    assert not (site / "hydra_plugins" / "__init__.py").exists()

    # -S: this environment's site-packages goes on sys.path as a plain folder (for hydra, torch,
    # ...) without running its .pth files, so the editable install of the checkout stays out and
    # only the wheel in `site` provides resume_ner and hydra_plugins.resume_ner_launcher.
    deps = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    run_env = {**env, "PYTHONPATH": os.pathsep.join([str(site), *deps])}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-S", *args],
            cwd=elsewhere,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    probe = run(
        "-c",
        "import hydra_plugins, resume_ner; print(resume_ner.__file__);"
        "print(*hydra_plugins.__path__, sep='\\n')",
    )
    assert probe.returncode == 0, probe.stderr
    for line in probe.stdout.splitlines():
        assert "__editable__" not in line, probe.stdout
        for checkout in (REPO / "resume_ner", REPO / "launchers"):
            assert not Path(line).resolve().is_relative_to(checkout), probe.stdout

    result = run("-m", "resume_ner.train", "--info", "plugins")
    assert result.returncode == 0, result.stderr
    sweepers = result.stdout.split("Sweeper:", 1)[1].split("Profiling information", 1)[0]
    assert "ResumeNerSweeper" in sweepers, result.stdout + result.stderr
