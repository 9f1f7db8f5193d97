"""A small XLSX writer for the report workbook: sheets of plain values with a few styles.

An ``.xlsx`` file is a zip of XML parts (Office Open XML, ECMA-376): the content types, the
package and workbook relationships, the workbook (its sheet names), the styles and one part
per sheet. The report needs little of the format: text, whole and decimal numbers, bold
text, a solid fill, a number format, wrapped text, column widths and a frozen header row.
Writing those parts directly takes a few milliseconds, where building the workbook with
openpyxl (imported for the purpose) took about a tenth of a second of a million-answer run.

The cells are written as openpyxl wrote them, so the workbook reads back the same: text as
inline strings (never a formula), numbers with 16 significant digits (``%.16g``), cells
that have a style but no value kept (the grey fill of a hidden row), ``xml:space`` kept on
text with spaces at its ends. Nothing here imports pandas or openpyxl.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_TEXT = 32_767
"""The most characters a cell holds; longer text is cut there (as openpyxl does)."""

_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""Characters XML 1.0 cannot carry (openpyxl refuses them too)."""

# Number formats every spreadsheet knows by number (ECMA-376 18.8.30); others get ids from 164.
_BUILTIN_FORMATS = {"General": 0, "0": 1, "0.00": 2, "0%": 9, "0.00%": 10}

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
_ML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the same bytes for the same workbook


@dataclass(frozen=True)
class Style:
    """How a cell looks: bold text, a solid fill (``RRGGBB``), a number format, and text
    wrapped and aligned to the top."""

    bold: bool = False
    fill: str | None = None
    number_format: str = "General"
    wrap_top: bool = False


PLAIN = Style()

Value = str | int | float | None


@dataclass
class Sheet:
    """One worksheet: cells by (row, column), both from 1; column widths in characters by
    column; ``freeze_rows`` rows kept in view at the top."""

    title: str
    cells: dict[tuple[int, int], tuple[Value, Style]] = field(default_factory=dict)
    widths: dict[int, float] = field(default_factory=dict)
    freeze_rows: int = 0

    def put(self, row: int, column: int, value: Value, style: Style | None = None) -> None:
        """Set a cell's value (None leaves it empty) and, when given, its style; a cell that
        already has a style keeps it when only the value is set."""
        old = self.cells.get((row, column))
        self.cells[(row, column)] = (value, style or (old[1] if old else PLAIN))

    def restyle(
        self,
        row: int,
        column: int,
        *,
        bold: bool | None = None,
        fill: str | None = None,
        number_format: str | None = None,
        wrap_top: bool | None = None,
    ) -> None:
        """Change the given parts of a cell's style (the cell is made, empty, if it is not
        there)."""
        value, style = self.cells.get((row, column), (None, PLAIN))
        self.cells[(row, column)] = (
            value,
            Style(
                bold=style.bold if bold is None else bold,
                fill=style.fill if fill is None else fill,
                number_format=style.number_format if number_format is None else number_format,
                wrap_top=style.wrap_top if wrap_top is None else wrap_top,
            ),
        )


def column_letter(column: int) -> str:
    """``1`` -> ``A``, ``27`` -> ``AA``."""
    letters = ""
    while column > 0:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(value: str) -> str:
    return _text(value).replace('"', "&quot;")


def _number(value: int | float) -> str:
    return "%.16g" % value  # noqa: UP031 (the format openpyxl writes numbers in)


class _Styles:
    """The workbook's style table: each distinct :class:`Style` becomes one cell format."""

    def __init__(self) -> None:
        self.formats: dict[Style, int] = {PLAIN: 0}
        self.fills: dict[str, int] = {}  # after the two fills every workbook starts with
        self.custom_formats: dict[str, int] = {}

    def index(self, style: Style) -> int:
        found = self.formats.get(style)
        if found is None:
            found = self.formats[style] = len(self.formats)
            if style.fill is not None:
                self.fills.setdefault(style.fill, len(self.fills) + 2)
            if style.number_format not in _BUILTIN_FORMATS:
                self.custom_formats.setdefault(style.number_format, len(self.custom_formats) + 164)
        return found

    def format_id(self, number_format: str) -> int:
        builtin = _BUILTIN_FORMATS.get(number_format)
        return builtin if builtin is not None else self.custom_formats[number_format]

    def xml(self) -> str:
        formats = "".join(
            f'<numFmt numFmtId="{number}" formatCode="{_attribute(code)}"/>'
            for code, number in self.custom_formats.items()
        )
        fills = "".join(
            f'<fill><patternFill patternType="solid"><fgColor rgb="00{rgb}"/></patternFill></fill>'
            for rgb in self.fills
        )
        xfs = []
        for style in self.formats:
            attributes = (
                f'numFmtId="{self.format_id(style.number_format)}" fontId="{int(style.bold)}" '
                f'fillId="{self.fills[style.fill] if style.fill is not None else 0}" '
                'borderId="0" xfId="0"'
            )
            if style.number_format != "General":
                attributes += ' applyNumberFormat="1"'
            if style.bold:
                attributes += ' applyFont="1"'
            if style.fill is not None:
                attributes += ' applyFill="1"'
            if style.wrap_top:
                xfs.append(
                    f'<xf {attributes} applyAlignment="1">'
                    '<alignment vertical="top" wrapText="1"/></xf>'
                )
            else:
                xfs.append(f"<xf {attributes}/>")
        return (
            f'<styleSheet xmlns="{_MAIN}">'
            f'<numFmts count="{len(self.custom_formats)}">{formats}</numFmts>'
            '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
            '<font><b val="1"/><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
            "</fonts>"
            f'<fills count="{len(self.fills) + 2}"><fill><patternFill/></fill>'
            f'<fill><patternFill patternType="gray125"/></fill>{fills}</fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
            "</borders>"
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
            "</cellStyleXfs>"
            f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            "</styleSheet>"
        )


def _cell(reference: str, value: Value, style: int) -> str:
    styled = f' s="{style}"' if style else ""
    if value is None or value == "":
        return f'<c r="{reference}"{styled}/>'
    if isinstance(value, str):
        text = value[:MAX_TEXT]
        if _ILLEGAL.search(text):
            raise ValueError(f"{text!r} has a character a workbook cannot hold")
        stripped = text.strip()
        space = ' xml:space="preserve"' if stripped and stripped != text else ""
        return f'<c r="{reference}"{styled} t="inlineStr"><is><t{space}>{_text(text)}</t></is></c>'
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a workbook cell holds text or a number, not {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        return f'<c r="{reference}"{styled} t="n"><v></v></c>'
    return f'<c r="{reference}"{styled} t="n"><v>{_number(value)}</v></c>'


def _sheet_xml(sheet: Sheet, styles: _Styles) -> str:
    by_row: dict[int, list[tuple[int, Value, Style]]] = {}
    for (row, column), (value, style) in sheet.cells.items():
        by_row.setdefault(row, []).append((column, value, style))
    last_row = max(by_row, default=1)
    last_column = max((column for column, _ in sheet.cells), default=1)
    rows = []
    for row in sorted(by_row):
        cells = "".join(
            _cell(f"{column_letter(column)}{row}", value, styles.index(style))
            for column, value, style in sorted(by_row[row], key=lambda cell: cell[0])
        )
        rows.append(f'<row r="{row}">{cells}</row>')
    if sheet.freeze_rows:
        below = f"A{sheet.freeze_rows + 1}"
        view = (
            f'<pane ySplit="{sheet.freeze_rows}" topLeftCell="{below}" activePane="bottomLeft" '
            'state="frozen"/><selection pane="bottomLeft" activeCell="A1" sqref="A1"/>'
        )
    else:
        view = '<selection activeCell="A1" sqref="A1"/>'
    columns = "".join(
        f'<col min="{column}" max="{column}" width="{_number(width)}" customWidth="1"/>'
        for column, width in sorted(sheet.widths.items())
    )
    return (
        f'<worksheet xmlns="{_MAIN}">'
        f'<dimension ref="A1:{column_letter(last_column)}{last_row}"/>'
        f'<sheetViews><sheetView workbookViewId="0">{view}</sheetView></sheetViews>'
        '<sheetFormatPr baseColWidth="8" defaultRowHeight="15"/>'
        + (f"<cols>{columns}</cols>" if columns else "")
        + f"<sheetData>{''.join(rows)}</sheetData>"
        '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/>'
        "</worksheet>"
    )


def workbook_bytes(sheets: Iterable[Sheet]) -> bytes:
    """The ``.xlsx`` file of ``sheets``, in their order (the first is the one shown)."""
    sheets = list(sheets)
    if not sheets:
        raise ValueError("a workbook has at least one sheet")
    styles = _Styles()
    parts = {f"xl/worksheets/sheet{i}.xml": _sheet_xml(s, styles) for i, s in enumerate(sheets, 1)}
    overrides = "".join(
        f'<Override PartName="/{name}" ContentType="{_ML}.worksheet+xml"/>' for name in parts
    )
    names = "".join(
        f'<sheet name="{_attribute(s.title)}" sheetId="{i}" r:id="rId{i}"/>'
        for i, s in enumerate(sheets, 1)
    )
    sheet_links = "".join(
        f'<Relationship Id="rId{i}" Type="{_DOC_RELS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    head = {
        "[Content_Types].xml": (
            f'<Types xmlns="{_TYPES}">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_ML}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_ML}.styles+xml"/>'
            f"{overrides}</Types>"
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{_RELS}"><Relationship Id="rId1" '
            f'Type="{_DOC_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{_MAIN}" xmlns:r="{_DOC_RELS}">'
            '<bookViews><workbookView activeTab="0"/></bookViews>'
            f'<sheets>{names}</sheets><calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{_RELS}">{sheet_links}'
            f'<Relationship Id="rId{len(sheets) + 1}" Type="{_DOC_RELS}/styles" '
            'Target="styles.xml"/></Relationships>'
        ),
        "xl/styles.xml": styles.xml(),  # after the sheets: they add the styles they use
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, xml in {**head, **parts}.items():
            info = zipfile.ZipInfo(name, _ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, _DECLARATION + xml)
    return buffer.getvalue()
