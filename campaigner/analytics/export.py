"""Tables as CSV files: UTF-8 with a BOM, so spreadsheet programs show Chinese as written."""
from __future__ import annotations

import io

from campaigner.spreadsheet_csv import csv_writer


def to_csv(header: list[str], rows) -> str:
    """The CSV text of `header` and `rows` (iterables of cells)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv_writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if cell is None else cell for cell in row])
    return out.getvalue()


def csv_filename(*parts) -> str:
    """A safe download name from `parts` (ASCII letters, digits, dashes)."""
    import re

    name = "-".join(re.sub(r"[^A-Za-z0-9]+", "-", str(p)).strip("-") for p in parts if str(p))
    return (name or "export") + ".csv"
