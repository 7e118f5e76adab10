"""Excel sheets whose bytes depend only on their content (for byte-identical miniatures).

openpyxl's ``save()`` stamps the current time into the document properties and the zip
entries; ``write_workbook`` fixes both, so the same rows always give the same file.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

import openpyxl
from openpyxl.writer.excel import ExcelWriter

FIXED_TIME = datetime(2024, 1, 1)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def write_workbook(
    path: Path,
    rows: Iterable[Sequence[object]],
    *,
    title: str = "Sheet1",
    creator: str = "emobench synth",
) -> None:
    """Write ``rows`` (the first one is the header; ``None`` is an empty cell) as one sheet."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(list(row))
    wb.properties.creator = creator
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    # ExcelWriter directly: openpyxl's save() would stamp the current time as "modified".
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).write_data()
    write_zip_without_timestamps(raw.getvalue(), path)


def write_zip_without_timestamps(data: bytes, path: Path) -> None:
    """Re-pack a zip with every entry dated 1980-01-01, in the original entry order."""
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, src.read(name))
