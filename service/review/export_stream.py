"""The auditor's export written out, CSV or JSON, as a stream of text chunks hashed on the way.

Shared by /review/export and `authz export`. CSV cells go through the console's own CSV writer
(render.to_csv: the formula guard, booleans, lists), one chunk of rows at a time, so its rules reach
the export too. The manifest (audit.export) is known once the last row is written: `stream.manifest`.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

from service.analysis.allowed import Progress
from service.audit.export import COLUMNS, EXPORT_FORMAT, Digest, Export, canonical_json

from .pages import Page, Table
from .render import to_csv

FORMATS = ("csv", "json")
ROWS_PER_CHUNK = 2000


def _chunks(rows: Iterator[dict[str, Any]], size: int = ROWS_PER_CHUNK) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def csv_text(rows: list[dict[str, Any]], header: bool) -> str:
    """Rows as the console's CSV (render.to_csv); without its header line when `header` is False."""
    text = to_csv(Page("export", "", {}, {"rows": Table(COLUMNS, rows)}), "rows")
    return text if header else text.split("\n", 1)[1]


class ExportStream:
    """Iterate for the text; afterwards `manifest` describes exactly what was written."""

    def __init__(self, export: Export, fmt: str, progress: Progress | None = None,
                 on_manifest: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}")
        self.export, self.fmt, self.progress = export, fmt, progress
        self.on_manifest = on_manifest  # may add fields (who exported, a token) before the JSON prints it
        self.digest = Digest()
        self.manifest: dict[str, Any] | None = None

    def __iter__(self) -> Iterator[str]:
        body = self._csv() if self.fmt == "csv" else self._json()
        yield from body

    def _finish(self) -> dict[str, Any]:
        manifest = self.export.manifest(self.fmt, self.digest.rows, self.digest.hexdigest())
        self.manifest = self.on_manifest(manifest) if self.on_manifest else manifest
        return self.manifest

    def _csv(self) -> Iterator[str]:
        first = True
        for chunk in _chunks(self.export.rows(self.progress)):
            text = csv_text(chunk, header=first)
            first = False
            self.digest.add(text, len(chunk))
            yield text
        if first:  # no row at all: the header alone
            text = csv_text([], header=True)
            self.digest.add(text)
            yield text
        self._finish()

    def _json(self) -> Iterator[str]:
        yield f'{{"export":"{EXPORT_FORMAT}","columns":{canonical_json(COLUMNS)},"rows":[\n'
        separator = ""
        for chunk in _chunks(self.export.rows(self.progress)):
            lines = [canonical_json(row) for row in chunk]
            self.digest.add("".join(line + "\n" for line in lines), len(lines))
            yield separator + ",\n".join(lines)
            separator = ",\n"
        yield f'\n],\n"manifest":{canonical_json(self._finish())}}}\n'
