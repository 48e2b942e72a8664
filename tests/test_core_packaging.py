"""What a non-editable install (`pip install .`) ships: every package, the built-in plugins, the sample library."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
PLUGINS = ROOT / "plugins"
BUILT_INS = {"campaigner_email": ["email"], "campaigner_sms": ["sms"], "campaigner_chat": ["chat"],
             "campaigner_miniprogram": ["miniprogram"]}


def packages_in(folder: Path, package: str) -> set[str]:
    """The regular packages (folders with __init__.py) under `folder`, named as the wheel installs `folder` as `package`."""
    return {".".join((package, *init.parent.relative_to(folder).parts)) for init in folder.rglob("__init__.py")}


def shipped_files(folder: Path) -> set[Path]:
    """Every file under `folder` a wheel must carry (what Python writes while running left out)."""
    return {p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def test_every_package_is_listed_for_the_wheel():
    on_disk = packages_in(ROOT / "campaigner", "campaigner") | packages_in(PLUGINS, "campaigner_plugins")
    listed = set(SETUPTOOLS["packages"])
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    # The two top-level folders shipped as namespace packages: no __init__.py of their own.
    assert listed - on_disk == {"campaigner_samples", "campaigner_plugins"}


def test_builtin_plugins_ship_as_a_package_and_are_found_through_the_import_system():
    from campaigner.plugins import BUNDLED_PLUGINS_DIR, bundled_plugins_dir

    assert SETUPTOOLS["package-dir"]["campaigner_plugins"] == "plugins"
    assert {f"campaigner_plugins.{name}" for name in BUILT_INS} <= set(SETUPTOOLS["packages"])
    # Code of a listed package ships as its modules; any other file needs a package-data pattern.
    data = {p for pattern in SETUPTOOLS["package-data"].get("campaigner_plugins", []) for p in PLUGINS.glob(pattern)}
    listed = set(SETUPTOOLS["packages"])
    for file in shipped_files(PLUGINS):
        package = ".".join(("campaigner_plugins", *file.parent.relative_to(PLUGINS).parts))
        assert (file.suffix == ".py" and package in listed) or file in data, f"{file} is not in the wheel"
    # The editable install maps campaigner_plugins to plugins/ the way a wheel installs it in site-packages.
    assert bundled_plugins_dir() == BUNDLED_PLUGINS_DIR == PLUGINS


def test_sample_library_ships_as_package_data_and_is_found_through_the_import_system():
    from campaigner.content.library_files import sample_library_dir

    assert SETUPTOOLS["package-dir"]["campaigner_samples"] == "content"
    content = ROOT / "content"
    shipped = {p for pattern in SETUPTOOLS["package-data"]["campaigner_samples"] for p in content.glob(pattern)}
    every_item = set(content.rglob("*.md"))
    assert len(every_item) >= 25 and shipped == every_item
    # The editable install maps campaigner_samples to content/ the way a wheel installs it in site-packages.
    assert sample_library_dir() == content


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel `pip install .` installs, built from a copy so the build leaves nothing in the checkout."""
    source = tmp_path_factory.mktemp("wheel") / "campaigner"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("campaigner", "content", "plugins"):
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    for file in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / file, source / file)
    dist = source.parent / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(dist),
         str(source)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"building the wheel failed:\n{result.stdout}\n{result.stderr}"
    (built,) = dist.glob("campaigner-*.whl")
    return built


def test_the_wheel_carries_every_builtin_plugin_file_and_sample(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for package, folder in (("campaigner_plugins", PLUGINS), ("campaigner_samples", ROOT / "content")):
        missing = {f"{package}/{p.relative_to(folder).as_posix()}" for p in shipped_files(folder)} - names
        assert missing == set(), f"not in the wheel: {sorted(missing)}"


def test_an_installed_wheel_loads_the_builtin_channels_through_the_plugins_directory(wheel, tmp_path):
    """`campaigner plugins --json` run from the unpacked wheel, which comes first on the path (as site-packages would)."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {key: value for key, value in os.environ.items() if not key.startswith("CAMPAIGNER_")}
    env.update(PYTHONPATH=str(site), CAMPAIGNER_INSTANCE_PATH=str(tmp_path / "instance"),
               CAMPAIGNER_SECRET_KEY="packaging-test-secret")
    result = subprocess.run([sys.executable, "-c", "from campaigner.cli import main; main()", "plugins", "--json"],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    plugins = {p["name"]: p for p in report["plugins"]}
    assert {name: plugins[name]["channels"] for name in BUILT_INS if name in plugins} == BUILT_INS
    for name in BUILT_INS:
        assert plugins[name]["source"] == "directory"
        assert Path(plugins[name]["location"]).parent.parent == site / "campaigner_plugins"
    assert not report["errors"]
