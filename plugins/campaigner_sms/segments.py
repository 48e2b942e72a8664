"""SMS length and segment counting: GSM-7 versus UCS-2 (any Chinese character).

A text that fits the GSM 03.38 alphabet goes as GSM-7: 160 characters in one
SMS, 153 per part of a long one (the rest of each part is the concatenation
header); characters of the extension table (``^{}[]~|€\\``) take two. Anything
else, Chinese included, goes as UCS-2: 70 characters in one SMS, 67 per part,
counted in UTF-16 code units (an emoji takes two).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")

SINGLE = {"GSM-7": 160, "UCS-2": 70}
PER_PART = {"GSM-7": 153, "UCS-2": 67}


@dataclass(frozen=True)
class Segments:
    """How an SMS text is sent: its encoding, its length in that encoding and its parts."""

    encoding: str  # "GSM-7" or "UCS-2"
    length: int  # septets for GSM-7, UTF-16 code units for UCS-2
    parts: int
    per_part: int  # characters per part at this length (single-message or long-message size)

    @property
    def remaining(self) -> int:
        """Characters left in the last part before another part is needed."""
        return self.parts * self.per_part - self.length


def is_gsm7(text: str) -> bool:
    """Whether every character of `text` is in the GSM-7 alphabet (basic or extension)."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def segments(text: str) -> Segments:
    """Count the SMS parts `text` is sent as."""
    if is_gsm7(text):
        encoding = "GSM-7"
        length = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
    else:
        encoding = "UCS-2"
        length = len(text.encode("utf-16-le")) // 2
    if length <= SINGLE[encoding]:
        return Segments(encoding, length, 1 if length else 0, SINGLE[encoding])
    per_part = PER_PART[encoding]
    return Segments(encoding, length, math.ceil(length / per_part), per_part)
