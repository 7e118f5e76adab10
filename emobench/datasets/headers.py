"""How a column header in a raw sheet or export is compared with the spellings an adapter accepts.

Every reader of a raw table (label sheets, coding sheets, clip lists, Tobii exports) matches the
headers it finds against accepted spellings through `header_key`, so that one rule decides what
"the same header" means. Two strictness levels exist because the tables differ in what a header's
punctuation carries:

- ``exact=False`` (the default: label and coding sheets, clip lists): only the ASCII letters and
  digits of the lower-cased header count, so ``"Onset Frame"``, ``"onset_frame"`` and
  ``"OnsetFrame"`` are one header. Sheets are typed by hand and their spacing and punctuation
  carry no meaning.
- ``exact=True`` (eye-tracker exports): whitespace runs count as one space and case is folded
  (which also makes the micro sign ``µ`` and the Greek ``μ`` one letter), but every other
  character counts. A unit suffix is part of the spelling there: ``Recording timestamp [ms]`` and
  ``Recording timestamp [μs]`` differ by a factor of 1000, and a bare ``Recording timestamps``
  must not read as microseconds because its letters match ``... [us]``.
"""

from __future__ import annotations

import re

_NOT_ASCII_ALNUM = re.compile(r"[^a-z0-9]+")


def header_key(name: object, *, exact: bool = False) -> str:
    """The key under which ``name`` is compared with accepted spellings (see module doc)."""
    text = str(name)
    if exact:
        return " ".join(text.split()).casefold()
    return _NOT_ASCII_ALNUM.sub("", text.lower())
