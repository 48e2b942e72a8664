"""Fixtures for the content library tests: items, XSS payloads, preview channels, images."""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from campaigner import Channel, ContentLimits, hookimpl
from campaigner.db import database

SAMPLE_LIBRARY = Path(__file__).resolve().parent.parent / "content"

# Each must come out of every page and preview without running: script tags,
# event handlers, javascript: and data: URLs, markup in attributes.
XSS_PAYLOADS = [
    "<script>alert('xss-script')</script>",
    '<img src=x onerror="alert(\'xss-onerror\')">',
    "[click me](javascript:alert('xss-link'))",
    '<a href="JaVaScRiPt:alert(\'xss-mixedcase\')">mixed case</a>',
    '<svg onload="alert(\'xss-svg\')"><circle r="1"/></svg>',
    "<iframe src=\"javascript:alert('xss-iframe')\"></iframe>",
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data url</a>',
    '<div style="background:url(javascript:alert(\'xss-style\'))" onmouseover="alert(\'xss-hover\')">hover</div>',
    '"><script>alert("xss-breakout")</script>',
    "<body onload=alert('xss-body')>",
]
# What none of the pages may contain once a payload went through them.
DANGEROUS = ["<script>alert", "onerror=", "onload=", "onmouseover=", "javascript:alert", "<iframe", "<svg",
             "data:text/html", "<body onload"]


class PreviewChannel(Channel):
    """A channel for tests: a fixed length limit, and a format chosen per instance."""

    contact_field = "email"

    def __init__(self, name: str, fmt: str, max_length: int | None = None):
        super().__init__()
        self.name, self.label = name, f"Test {name}"
        self.limits = ContentLimits(max_length=max_length, format=fmt)


class _PreviewPlugin:
    def __init__(self, channels):
        self._channels = channels

    @hookimpl
    def register_channels(self, register):
        for channel in self._channels:
            register(channel)


@pytest.fixture
def preview_channels(app):
    """Adds an HTML channel (`testhtml`) and a 40-character text channel (`testtext`) to the app's plugins."""
    plugins = app.extensions["campaigner"].plugins
    plugin = _PreviewPlugin([PreviewChannel("testhtml", "html"), PreviewChannel("testtext", "text", 40)])
    plugins.pm.register(plugin, name="content-test-channels")
    plugins._channels = None  # collected again with ours in
    yield plugins
    plugins.pm.unregister(plugin)
    plugins._channels = None


@pytest.fixture
def make_content(app):
    """``make_content(title=…, body=…, **fields)`` -> a saved ContentItem (version 1)."""
    from campaigner.content.services import save_content

    def make(title="Autumn latte", body="Our oat latte is back.", user=None, **fields):
        with database.connection_context():
            return save_content(None, {"title": title, "body": body, **fields}, user).item

    return make


@pytest.fixture
def library_copy(tmp_path):
    """A copy of the sample library in content/, safe to change."""
    target = tmp_path / "library"
    shutil.copytree(SAMPLE_LIBRARY, target)
    return target


def png_bytes(size=(8, 6), color=(200, 80, 20)) -> bytes:
    """A real PNG image."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def in_db(fn, *args, **kwargs):
    """Run `fn` with a database connection (outside a request)."""
    with database.connection_context():
        return fn(*args, **kwargs)
