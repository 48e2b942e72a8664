"""The plugin manager: hookspecs, installed plugins and drop-in plugin modules.

Built one per app (or worker) from settings, so each test gets a fresh one.
Plugins come from the entry-point group ``campaigner`` and from plugins
directories (the bundled ``plugins/`` and ``CAMPAIGNER_PLUGINS_DIR``); each is
loaded under its own guard and a failure is listed, not fatal.
"""
from __future__ import annotations

import importlib
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pluggy

from campaigner import hookspecs

log = logging.getLogger(__name__)

BUNDLED_PLUGINS_DIR = Path(__file__).resolve().parent.parent / "plugins"


@dataclass
class PluginManager:
    pm: pluggy.PluginManager
    load_errors: dict[str, str] = field(default_factory=dict)
    _channels: dict | None = None

    @property
    def hook(self):
        return self.pm.hook

    def channels(self) -> dict:
        """Every registered channel by name (collected once)."""
        if self._channels is None:
            found = {}

            def register(channel):
                if channel.name in found:
                    raise ValueError(f"two channels are named {channel.name!r}")
                found[channel.name] = channel

            self.pm.hook.register_channels(register=register)
            self._channels = found
        return self._channels

    def channel(self, name: str):
        return self.channels().get(name)


def plugin_dirs(settings: dict) -> list[Path]:
    dirs = [BUNDLED_PLUGINS_DIR] if BUNDLED_PLUGINS_DIR.is_dir() else []
    extra = settings.get("PLUGINS_DIR")
    if extra:
        dirs += [Path(p) for p in str(extra).split(":") if p]
    return dirs


def build_plugin_manager(settings: dict) -> PluginManager:
    pm = pluggy.PluginManager("campaigner")
    pm.add_hookspecs(hookspecs)
    manager = PluginManager(pm)
    for ep in importlib.metadata.entry_points(group="campaigner"):
        try:
            module = ep.load()
            if not pm.is_registered(module):
                pm.register(module, name=ep.name)
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop the rest
            log.exception("plugin %s failed to load", ep.name)
            manager.load_errors[ep.name] = f"{type(exc).__name__}: {exc}"
    for directory in plugin_dirs(settings):
        _load_directory(manager, directory)
    pm.check_pending()
    return manager


def _load_directory(manager: PluginManager, directory: Path) -> None:
    if not directory.is_dir():
        manager.load_errors[str(directory)] = "plugins directory does not exist"
        return
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    for path in sorted(directory.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.is_dir() and (path / "__init__.py").exists():
            name = path.name
        elif path.suffix == ".py":
            name = path.stem
        else:
            continue
        try:
            module = importlib.import_module(name)
            if not manager.pm.is_registered(module) and manager.pm.get_plugin(name) is None:
                manager.pm.register(module, name=name)
        except Exception as exc:  # noqa: BLE001
            log.exception("plugin %s failed to load", name)
            manager.load_errors[name] = f"{type(exc).__name__}: {exc}"
