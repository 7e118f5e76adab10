"""Which text encoding a raw text file (a split list, a CSV sheet, an eye-tracker export) uses.

Raw releases are written by many tools: UTF-8 with or without a byte-order mark, Excel's
"Unicode text" (UTF-16 with a BOM), UTF-16 without a BOM, and Windows' ANSI code page (cp1252,
a superset of latin-1's printable characters). `detect_encoding` decides from the bytes:

1. a byte-order mark names the encoding (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE);
2. without one, NUL bytes at about every other position of the first 4 KiB mean UTF-16 (LE
   when the NULs follow the ASCII bytes, BE when they precede them): text never holds NULs;
3. otherwise UTF-8 if the whole file decodes as UTF-8, else the first of ``fallbacks`` that
   decodes it. A fallback is a guess (cp1252 and latin-1 decode almost any bytes), so callers
   record the encoding they read, and `Decoded.fallback` says it was one.

Undecodable bytes under the chosen encoding, and NUL bytes that are no UTF-16 pattern, are an
`InputError` naming the file, the encoding and the offending byte offset.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from emobench.errors import InputError

DEFAULT_FALLBACKS: tuple[str, ...] = ("cp1252", "latin-1")

_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32 before UTF-16: the UTF-32 LE mark starts with the UTF-16 LE one.
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SNIFF_BYTES = 4096


@dataclass(frozen=True)
class Decoded:
    """The text of a file, the codec name it was decoded with, and whether that was a guess."""

    text: str
    encoding: str
    fallback: bool = False

    def describe(self) -> str:
        """How the encoding was chosen, for a note beside the data read with it."""
        if self.fallback:
            return f"not UTF-8; read as {self.encoding}"
        return f"read as {self.encoding}"


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 LE/BE when about every other byte of ``head`` is NUL (ASCII text in UTF-16)."""
    pairs = len(head) // 2
    if pairs < 2 or b"\x00" not in head:
        return None
    even, odd = head[0 : 2 * pairs : 2].count(0), head[1 : 2 * pairs : 2].count(0)
    if odd >= 0.5 * pairs and even <= 0.1 * pairs:
        return "utf-16-le"
    if even >= 0.5 * pairs and odd <= 0.1 * pairs:
        return "utf-16-be"
    return None


def detect_encoding(
    raw: bytes, path: str | Path, fallbacks: tuple[str, ...] = DEFAULT_FALLBACKS
) -> Decoded:
    """The `Decoded` text of ``raw`` (the bytes of ``path``); see the module docstring."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            return Decoded(_decode(raw, encoding, path), encoding)
    utf16 = _utf16_without_bom(raw[:_SNIFF_BYTES])
    if utf16 is not None:
        return Decoded(_decode(raw, utf16, path), utf16)
    if b"\x00" in raw:
        offset = raw.index(b"\x00")
        raise InputError(
            path, f"holds a NUL byte at offset {offset} and is no UTF-16 text: not a text file?"
        )
    try:
        return Decoded(raw.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as err:
        utf8_error = err
    for encoding in fallbacks:
        try:
            return Decoded(raw.decode(encoding), encoding, fallback=True)
        except UnicodeDecodeError:
            continue
    raise InputError(
        path,
        f"is not UTF-8 (byte 0x{raw[utf8_error.start]:02X} at offset {utf8_error.start}) "
        f"and not {' or '.join(fallbacks) or 'any fallback encoding'} either; save it as UTF-8",
    )


def read_text(path: str | Path, fallbacks: tuple[str, ...] = DEFAULT_FALLBACKS) -> Decoded:
    """The `Decoded` text of the file at ``path`` (only read, never written)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise InputError(path, f"cannot read the file: {err.strerror or err}") from None
    return detect_encoding(raw, path, fallbacks)


def _decode(raw: bytes, encoding: str, path: str | Path) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        raise InputError(
            path,
            f"is marked as {encoding} text but byte offset {err.start} is not valid {encoding} "
            f"({err.reason})",
        ) from None
