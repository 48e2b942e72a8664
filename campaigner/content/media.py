"""Images uploaded for content: checked by what the bytes are (Pillow), not by their name.

Files live in ``<instance>/media/`` named by their SHA-256, so uploading the
same image twice stores it once. SVG is refused: it is a document that can
carry scripts, not a picture.

An image is served publicly (an email's reader is not signed in) at an address
carrying a token signed with the secret key: the file name alone is a hash of
the bytes, which anyone holding a copy of the image could compute to learn
whether it was uploaded here; the token can't be made without the key.
"""
from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path

from itsdangerous import Signer
from PIL import Image

from campaigner.content.models import Media
from campaigner.content.services import ContentError, _

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a small file can still decode to gigabytes (a "decompression bomb")
FORMATS = {"PNG": ("png", "image/png"), "JPEG": ("jpg", "image/jpeg"),
           "GIF": ("gif", "image/gif"), "WEBP": ("webp", "image/webp")}


class MediaError(ContentError):
    """An upload that is not an image we keep."""


def media_dir(instance_path: str) -> Path:
    """The folder holding uploaded media."""
    folder = Path(instance_path) / "media"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def inspect_image(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) of image bytes; raise MediaError when they are not a supported image."""
    if not data:
        raise MediaError(_("The file is empty."))
    if len(data) > MAX_BYTES:
        raise MediaError(_("The file is %(size)s MB; the limit is %(max)s MB."),
                         size=round(len(data) / 1024 / 1024, 1), max=MAX_BYTES // 1024 // 1024)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt, (width, height) = image.format, image.size
                image.verify()  # reads the whole file: a truncated or forged one fails here
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaError(_("The image has too many pixels.")) from None
    except Exception:  # noqa: BLE001 - Pillow raises many types for bytes that are not an image
        raise MediaError(_("The file is not an image (PNG, JPEG, GIF or WebP).")) from None
    if fmt not in FORMATS:
        raise MediaError(_("Images in %(format)s are not accepted; use PNG, JPEG, GIF or WebP."), format=fmt)
    if width * height > MAX_PIXELS:
        raise MediaError(_("The image has too many pixels."))
    return fmt, width, height


def store_upload(instance_path: str, data: bytes, original_name: str = "", content=None, user=None) -> Media:
    """Check and keep an uploaded image; return its Media row (the existing one for a repeat upload)."""
    fmt, width, height = inspect_image(data)
    ext, mime = FORMATS[fmt]
    filename = f"{hashlib.sha256(data).hexdigest()[:32]}.{ext}"
    target = media_dir(instance_path) / filename
    if not target.exists():
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)  # atomic: a reader never sees half a file
    existing = Media.get_or_none(Media.filename == filename)
    if existing is not None:
        if existing.content_id is None and content is not None:
            existing.content = content
            existing.save(only=[Media.content])
        return existing
    return Media.create(filename=filename, original_name=Path(original_name or "").name[:200], mime=mime,
                        size=len(data), width=width, height=height, content=content,
                        uploaded_by=getattr(user, "id", None))


def stored_media(instance_path: str, filename: str) -> tuple[Media, Path] | None:
    """The upload named `filename` and its file, or None when there is no such upload."""
    row = Media.get_or_none(Media.filename == filename)
    if row is None:
        return None
    path = media_dir(instance_path) / row.filename
    return (row, path) if path.is_file() else None


def _signer(secret_key: str) -> Signer:
    return Signer(secret_key, salt="campaigner.media", digest_method=hashlib.sha256)


def media_token(secret_key: str, filename: str) -> str:
    """The token in an upload's public address; it stays the same until the secret key changes."""
    return _signer(secret_key).get_signature(filename).decode("ascii")


def media_token_matches(secret_key: str, filename: str, token: str) -> bool:
    """Whether `token` is the one for `filename` (compared in constant time)."""
    return _signer(secret_key).verify_signature(filename.encode(), token.encode())


def markdown_for(media: Media, url: str) -> str:
    """The Markdown that shows `media` at `url`."""
    alt = Path(media.original_name).stem.replace("]", "").replace("[", "") or "image"
    return f"![{alt}]({url})"
