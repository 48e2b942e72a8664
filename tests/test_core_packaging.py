"""What a non-editable install (`pip install .`) ships: every package, and the sample library."""
from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]


def test_every_campaigner_package_is_listed_for_the_wheel():
    on_disk = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "campaigner").rglob("__init__.py")}
    listed = set(SETUPTOOLS["packages"])
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - on_disk == {"campaigner_samples"}


def test_sample_library_ships_as_package_data_and_is_found_through_the_import_system():
    from campaigner.content.library_files import sample_library_dir

    assert SETUPTOOLS["package-dir"]["campaigner_samples"] == "content"
    content = ROOT / "content"
    shipped = {p for pattern in SETUPTOOLS["package-data"]["campaigner_samples"] for p in content.glob(pattern)}
    every_item = set(content.rglob("*.md"))
    assert len(every_item) >= 25 and shipped == every_item
    # The editable install maps campaigner_samples to content/ the way a wheel installs it in site-packages.
    assert sample_library_dir() == content
