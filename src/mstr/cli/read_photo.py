"""``mstr read --photo``: the output of whole-photo reading (helpers of :mod:`mstr.cli.read`).

Text output, one line per word in reading order::

    path<TAB>text<TAB>confidence<TAB>script<TAB>line<TAB>x1,y1 x2,y2 x3,y3 x4,y4

With ``--json``: one JSON object per photo, ``{"path", "width", "height", "words": [{"text",
"confidence", "script", "line", "polygon", "det_score"}]}``. With ``--overlay DIR``: the photo with
its words drawn on it, as ``DIR/<name>.overlay.png``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["PHOTO_MODES", "wants_photo", "print_photo"]

#: --mode values: auto (photo when the image is much larger than a word), photo, word
PHOTO_MODES = ("auto", "photo", "word")


def wants_photo(mode: str, image: Any) -> bool:
    """Whether ``image`` is read as a whole photo under ``mode``."""
    from mstr.photo import looks_like_word

    return mode == "photo" or (mode == "auto" and not looks_like_word(*image.size))


def print_photo(reader: Any, path: str, image: Any, *, as_json: bool, overlay: Path | None,
                langs: Any = None) -> None:
    """Read ``image`` as a whole photo (with the language hint ``langs``, if any) and print its words
    (see the module text)."""
    result = reader.read_photo(image, **({"langs": langs} if langs else {}))
    if as_json:
        print(json.dumps({"path": path, **result.to_dict()}, ensure_ascii=False))
    else:
        for w in result.words:
            poly = " ".join(f"{x:.0f},{y:.0f}" for x, y in w.polygon)
            print(f"{path}\t{w.text}\t{w.confidence:.3f}\t{w.script or '-'}\t{w.line}\t{poly}")
    if overlay is not None:
        from mstr.overlay import draw_overlay

        overlay.mkdir(parents=True, exist_ok=True)
        draw_overlay(image, result).save(overlay / f"{Path(path).stem}.overlay.png")
