"""The plugin manager: hookspecs, installed plugins and drop-in plugin modules.

Built one per app (or worker) from settings, so each test gets a fresh one.
Plugins come from the entry-point group ``campaigner`` (installed packages) and
from plugins directories: the bundled ``plugins/`` and each folder on
``CAMPAIGNER_PLUGINS_DIR`` (colon-separated). The built-in channels load from
the bundled directory through exactly the path a third-party drop-in takes;
that directory is found through the import system (see `bundled_plugins_dir`),
so a wheel install has it as well as an editable one.
Each plugin is loaded under its own guard; a failure is listed by
``campaigner plugins`` and on the Plugins page, never fatal.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import sys
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import pluggy

from campaigner import hookspecs
from campaigner.channels import Channel, ConfigError, UnknownChannel

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "campaigner"
DELIVERY_EVENTS = ("sent", "delivered", "failed", "clicked", "opted_out")
BUNDLED_PLUGINS_PACKAGE = "campaigner_plugins"


def bundled_plugins_dir() -> Path | None:
    """Where the built-in plugins are installed, or None when they are not.

    They are the repository's top-level ``plugins/`` folder, which pyproject.toml ships as
    the package ``campaigner_plugins``, so a plain ``pip install .`` has them as well as an
    editable install. The folder stays a plain plugins directory (a namespace package, no
    ``__init__.py``): each plugin in it is imported by path under its own name, like a drop-in.
    """
    spec = importlib.util.find_spec(BUNDLED_PLUGINS_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else None


BUNDLED_PLUGINS_DIR = bundled_plugins_dir()


@dataclass
class PluginInfo:
    """Where a loaded plugin came from."""

    name: str
    source: str  # "entry point" or "directory"
    location: str = ""  # the distribution (name version) or the file
    version: str | None = None


@dataclass
class HookFailure:
    """One plugin implementation that raised."""

    plugin: str
    hook: str
    error: str


@dataclass
class PluginManager:
    """The app's pluggy manager plus what Campaigner knows about each plugin."""

    pm: pluggy.PluginManager
    settings: dict = field(default_factory=dict)
    load_errors: dict[str, str] = field(default_factory=dict)
    infos: dict[str, PluginInfo] = field(default_factory=dict)
    # Recent failures inside hooks (delivery events, channel registration), newest last.
    hook_failures: deque = field(default_factory=lambda: deque(maxlen=100))
    _channels: dict | None = None
    _channel_plugins: dict = field(default_factory=dict)
    _receivers: dict | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)  # worker threads ask for channels at once

    @property
    def hook(self):
        return self.pm.hook

    # ------------------------------------------------------------ channels

    def channels(self) -> dict[str, Channel]:
        """Every registered channel by name (collected once), unconfigured."""
        with self._lock:
            if self._channels is None:
                self._channels = self._collect_channels()
        return self._channels

    def _collect_channels(self) -> dict[str, Channel]:
        found: dict[str, Channel] = {}
        # One implementation at a time: a plugin whose registration raises
        # loses its own channels, not everyone's.
        for impl in _call_order(self.pm.hook.register_channels):
            def register(channel, _plugin=impl.plugin_name):
                problem = _channel_problem(channel, found, self._channel_plugins)
                if problem:
                    # Recorded, not raised: the plugin's other channels still register.
                    log.error("plugin %s: %s", _plugin, problem)
                    self.load_errors[_plugin] = problem
                    return
                found[channel.name] = channel
                self._channel_plugins[channel.name] = _plugin

            try:
                impl.function(register=register)
            except Exception as exc:  # noqa: BLE001 - a broken plugin is listed, not fatal
                log.exception("plugin %s failed to register its channels", impl.plugin_name)
                self.load_errors[impl.plugin_name] = f"register_channels: {type(exc).__name__}: {exc}"
        return found

    def channel(self, name: str) -> Channel | None:
        """The registered (unconfigured) channel called `name`, or None."""
        return self.channels().get(name)

    def channel_plugin(self, name: str) -> str | None:
        """The name of the plugin that registered channel `name`."""
        self.channels()
        return self._channel_plugins.get(name)

    def configured_channel(self, name: str) -> Channel:
        """The channel `name` with its config from the database and the environment.

        Raises `UnknownChannel` when no plugin registered it and `ConfigError`
        (naming each bad field) when its config is invalid. Needs a database
        connection.
        """
        from campaigner.channels.config import effective_config

        channel = self.channel(name)
        if channel is None:
            raise UnknownChannel(f"no plugin provides a channel named {name!r}")
        return channel.with_config(effective_config(channel, self.settings),
                                   instance_path=self.settings.get("INSTANCE_PATH"))

    def channels_for_preview(self) -> dict[str, Channel]:
        """Every channel, configured where its config is valid (else the template), for previews and checks.

        An SMS length check counts the configured signature and opt-out suffix
        only on a configured channel. Needs a database connection.
        """
        found = {}
        for name, channel in self.channels().items():
            try:
                found[name] = self.configured_channel(name)
            except Exception:  # noqa: BLE001 - an unconfigured channel still previews with its defaults
                found[name] = channel
        return found

    # ------------------------------------------------------------ inbound receivers

    def receivers(self) -> dict:
        """Every registered inbound receiver by provider name (collected once)."""
        with self._lock:
            if self._receivers is None:
                self._receivers = self._collect_receivers()
        return self._receivers

    def _collect_receivers(self) -> dict:
        from campaigner.inbound.receivers import InboundReceiver

        found: dict = {}
        for impl in _call_order(self.pm.hook.register_inbound_receivers):
            def register(receiver, _plugin=impl.plugin_name):
                name = getattr(receiver, "provider", "")
                if not isinstance(receiver, InboundReceiver):
                    problem = f"register() takes a campaigner.InboundReceiver, not {type(receiver).__name__}"
                elif not name or not name.isascii() or not name.replace("_", "").isalnum():
                    problem = f"receiver provider {name!r} must be ASCII letters, digits and underscores"
                elif name in found:
                    problem = f"receiver {name!r} ignored: another plugin registered one of that name"
                else:
                    found[name] = receiver
                    return
                log.error("plugin %s: %s", _plugin, problem)
                self.load_errors[_plugin] = problem

            try:
                impl.function(register=register)
            except Exception as exc:  # noqa: BLE001 - a broken plugin is listed, not fatal
                log.exception("plugin %s failed to register its receivers", impl.plugin_name)
                self.load_errors[impl.plugin_name] = f"register_inbound_receivers: {type(exc).__name__}: {exc}"
        return found

    # ------------------------------------------------------------ events

    def emit_delivery_event(self, event: str, delivery, details: dict | None = None) -> list[HookFailure]:
        """Tell every plugin about a delivery event; return the implementations that raised.

        pluggy stops at the first implementation that raises; here every one
        runs, and each failure is logged and kept with the plugin's name. The
        delivery itself is never affected.
        """
        if event not in DELIVERY_EVENTS:
            raise ValueError(f"unknown delivery event {event!r}; one of {', '.join(DELIVERY_EVENTS)}")
        return self.call_each("delivery_event", event=event, delivery=delivery, details=dict(details or {}))

    def call_each(self, hook_name: str, **kwargs) -> list[HookFailure]:
        """Call every implementation of a hook, each under its own guard."""
        failures = []
        for impl in _call_order(getattr(self.pm.hook, hook_name)):
            try:
                impl.function(*[kwargs[arg] for arg in impl.argnames])
            except Exception as exc:  # noqa: BLE001 - one plugin's bug must not stop the others
                log.exception("plugin %s failed in %s", impl.plugin_name, hook_name)
                failure = HookFailure(impl.plugin_name, hook_name, f"{type(exc).__name__}: {exc}")
                failures.append(failure)
                self.hook_failures.append(failure)
        if failures:
            _store_failures(failures)
        return failures

    # ------------------------------------------------------------ listing

    def plugin_names(self) -> list[str]:
        """Every registered plugin, in load order."""
        return [name for name in self.infos if self.pm.get_plugin(name) is not None]

    def hooks_of(self, plugin_name: str) -> list[str]:
        """The hooks a plugin implements."""
        plugin = self.pm.get_plugin(plugin_name)
        return sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])

    def channels_of(self, plugin_name: str) -> list[str]:
        """The channels a plugin registered."""
        self.channels()
        return sorted(name for name, plugin in self._channel_plugins.items() if plugin == plugin_name)


FAILURES_KEY = "plugins:hook_failures"
FAILURES_KEPT = 50


def _store_failures(failures: list[HookFailure]) -> None:
    """Keep recent hook failures in the database, so the Plugins page shows the workers' too."""
    from campaigner.db import database, utcnow
    from campaigner.settings_store import get_value, set_value

    try:
        # A savepoint: a failure here must not abort the caller's transaction (PostgreSQL).
        with database.atomic():
            kept = list(get_value(FAILURES_KEY) or [])
            kept += [{"plugin": f.plugin, "hook": f.hook, "error": f.error[:500], "at": utcnow().isoformat()}
                     for f in failures]
            set_value(FAILURES_KEY, kept[-FAILURES_KEPT:])
    except Exception:  # noqa: BLE001 - the log line above already holds the failure
        log.warning("could not store plugin hook failures", exc_info=True)


def recent_hook_failures() -> list[dict]:
    """Hook failures recorded by every process, newest last (needs a database connection)."""
    from campaigner.settings_store import get_value

    return list(get_value(FAILURES_KEY) or [])


def _call_order(hook_caller) -> list:
    """A hook's plain implementations in the order pluggy would call them (wrappers left out)."""
    return [impl for impl in reversed(hook_caller.get_hookimpls())
            if not (impl.hookwrapper or getattr(impl, "wrapper", False))]


def _channel_problem(channel, found: dict, owners: dict) -> str | None:
    if not isinstance(channel, Channel):
        return f"register() takes a campaigner.Channel instance, not {type(channel).__name__}"
    if not channel.name or not str(channel.name).replace("_", "").isalnum() or not channel.name.isascii():
        return f"channel name {channel.name!r} must be ASCII letters, digits and underscores"
    if channel.name in found:
        return f"channel {channel.name!r} ignored: plugin {owners[channel.name]} already registered one of that name"
    return None


def configured_channel(name: str) -> Channel:
    """The running process's channel `name`, configured (see `PluginManager.configured_channel`)."""
    from campaigner.runtime import current_runtime

    return current_runtime().plugins.configured_channel(name)


def render_context(contact, channel_name: str, *, delivery_id: int | None = None, campaign_id: int | None = None,
                   settings: dict | None = None, **extra) -> dict:
    """The context a channel's `render` gets: base_url, unsubscribe_url, delivery_id, campaign_id (+ extra)."""
    from campaigner.unsubscribe import unsubscribe_url

    if settings is None:
        from campaigner.runtime import current_runtime

        settings = current_runtime().settings
    return {
        "base_url": str(settings["BASE_URL"]).rstrip("/"),
        "unsubscribe_url": unsubscribe_url(contact, channel_name, delivery_id, settings=settings),
        "delivery_id": delivery_id,
        "campaign_id": campaign_id,
        **extra,
    }


def emit_delivery_event(event: str, delivery, details: dict | None = None) -> list[HookFailure]:
    """Tell every plugin of the running process about a delivery event (see the method)."""
    from campaigner.runtime import current_runtime

    return current_runtime().plugins.emit_delivery_event(event, delivery, details)


# ---------------------------------------------------------------- loading


def plugin_dirs(settings: dict) -> list[Path]:
    """The plugins directories to load from: the bundled one (when installed), then CAMPAIGNER_PLUGINS_DIR's."""
    dirs = [BUNDLED_PLUGINS_DIR] if BUNDLED_PLUGINS_DIR is not None else []
    extra = settings.get("PLUGINS_DIR")
    if extra:
        dirs += [Path(p).expanduser().resolve() for p in str(extra).split(":") if p]
    return dirs


def build_plugin_manager(settings: dict) -> PluginManager:
    """A plugin manager with every installed and drop-in plugin that loads."""
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    manager = PluginManager(pm, settings=settings)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        location = f"{dist.name} {dist.version}" if dist else ep.value
        try:
            module = ep.load()
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop the rest
            log.exception("plugin %s failed to load", ep.name)
            manager.load_errors[ep.name] = f"{type(exc).__name__}: {exc}"
            continue
        _register(manager, module, ep.name,
                  PluginInfo(ep.name, "entry point", location, dist.version if dist else None))
    if BUNDLED_PLUGINS_DIR is None:
        # Said out loud: without it there is no channel at all, and an empty list explains nothing.
        manager.load_errors[BUNDLED_PLUGINS_PACKAGE] = (
            f"the built-in plugins are not installed (no package {BUNDLED_PLUGINS_PACKAGE}): reinstall Campaigner")
    for directory in plugin_dirs(settings):
        _load_directory(manager, directory)
    return manager


def _register(manager: PluginManager, module, name: str, info: PluginInfo) -> None:
    pm = manager.pm
    if pm.get_plugin(name) is not None or pm.is_registered(module):
        manager.load_errors.setdefault(name, f"not loaded from {info.location}: a plugin of that name is already loaded")
        return
    try:
        pm.register(module, name=name)
        # Checked per plugin, so a misspelled hook names its plugin and spares the rest.
        pm.check_pending()
    except Exception as exc:  # noqa: BLE001
        if pm.get_plugin(name) is not None:
            pm.unregister(name=name)
        log.error("plugin %s rejected: %s", name, exc)
        manager.load_errors[name] = f"{type(exc).__name__}: {exc}"
        return
    manager.infos[name] = info


def _load_directory(manager: PluginManager, directory: Path) -> None:
    if not directory.is_dir():
        manager.load_errors[str(directory)] = "plugins directory does not exist"
        return
    for path in sorted(directory.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.is_dir() and (path / "__init__.py").exists():
            name, file = path.name, path / "__init__.py"
        elif path.suffix == ".py":
            name, file = path.stem, path
        else:
            continue
        try:
            module = _import_file(name, file)
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop the rest
            log.exception("plugin %s failed to load", name)
            manager.load_errors[name] = f"{type(exc).__name__}: {exc}"
            continue
        _register(manager, module, name, PluginInfo(name, "directory", str(file)))


def _import_file(name: str, file: Path):
    """Import `file` as module `name`; reuse it when that very file is already imported.

    Loading by path rather than through sys.path keeps two directories with a
    same-named module apart, and a package's own submodules still import.
    """
    existing = sys.modules.get(name)
    if existing is not None and Path(getattr(existing, "__file__", "") or "").resolve() == file.resolve():
        return existing
    is_package = file.name == "__init__.py"
    spec = importlib.util.spec_from_file_location(
        name, file, submodule_search_locations=[str(file.parent)] if is_package else None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


# ---------------------------------------------------------------- reporting


def plugin_report(manager: PluginManager, check_config: bool = True) -> dict:
    """Plugins, their hooks and channels, each channel's config status, and load errors (JSON-ready).

    What `campaigner plugins --json`, the Plugins page and the API show.
    Checking configs reads the database; the caller holds a connection.
    """
    from campaigner.channels.config import config_problems, environment_config

    channels = manager.channels()
    plugins = []
    for name in manager.plugin_names():
        info = manager.infos[name]
        plugins.append({"name": name, "source": info.source, "location": info.location, "version": info.version,
                        "hooks": manager.hooks_of(name), "channels": manager.channels_of(name),
                        "error": manager.load_errors.get(name)})
    channel_rows = []
    for channel_name, channel in sorted(channels.items()):
        row = {**channel.describe(), "plugin": manager.channel_plugin(channel_name)}
        if check_config:
            try:
                problems = config_problems(channel, manager.settings)
            except Exception as exc:  # noqa: BLE001 - e.g. no schema yet: report, don't crash the listing
                row.update(config_valid=None, config_errors={"": f"not checked: {type(exc).__name__}: {exc}"})
            else:
                row.update(config_valid=not problems, config_errors=problems)
            row["config_from_environment"] = sorted(environment_config(channel, manager.settings))
        channel_rows.append(row)
    receivers = [{**receiver.describe(), "url": f"/hooks/{name}/<account>"}
                 for name, receiver in sorted(manager.receivers().items())]
    errors = [{"plugin": name, "error": error} for name, error in manager.load_errors.items()]
    try:
        failures = recent_hook_failures()
    except Exception:  # noqa: BLE001 - no database: this process's own failures still show
        failures = [{"plugin": f.plugin, "hook": f.hook, "error": f.error, "at": None} for f in manager.hook_failures]
    return {"plugins": plugins, "channels": channel_rows, "receivers": receivers, "errors": errors,
            "hook_failures": failures}
