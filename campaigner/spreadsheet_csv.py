"""CSV that is safe to open in a spreadsheet: no cell is read as a formula.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
run as a formula by Excel, LibreOffice and WPS (``=HYPERLINK(…)``, ``+cmd|' /C calc'!A0``),
so every export writes such a text cell with a leading apostrophe, OWASP's rule
for CSV injection. Numbers stay numbers: a negative amount is not a formula.
Every CSV the app writes goes through `csv_writer`.
"""
from __future__ import annotations

import csv

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell):
    """`cell` as a spreadsheet shows it as text: a leading apostrophe before what would start a formula."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


class _SafeWriter:
    def __init__(self, writer):
        self._writer = writer

    def writerow(self, row):
        return self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def csv_writer(out, **kwargs) -> _SafeWriter:
    """A `csv.writer` on `out` whose every cell is neutralised."""
    return _SafeWriter(csv.writer(out, **kwargs))
