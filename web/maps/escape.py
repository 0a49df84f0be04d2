r"""Escaping of user text for map pages (GUIDE 1.4: folium does not escape).

User strings reach two kinds of sink in a folium page: ``innerHTML`` (``GeoJsonTooltip``,
``GeoJsonPopup``, Leaflet's ``bindTooltip``/``bindPopup`` with a string) and JavaScript template
literals (``folium.Tooltip``, ``folium.Popup`` put their text between backticks). HTML escaping
covers the first; the second also needs ``$`` (``${...}`` runs code), the backtick (ends the
literal) and the backslash (``\u`` that is not a valid escape is a syntax error, which would
stop every later script of the page).

And one sink on the server: branca wraps every rendered script in an ``Element``, which parses
it again as a Jinja template, user text included. ``{{ ... }}`` in a citizen's report would run
on the server when the page is built (and a stray ``{%`` would break the page), so the braces
are replaced too.
"""

from __future__ import annotations

import html
import math

__all__ = ["safe"]

_SCRIPT_SYNTAX = str.maketrans(
    {"$": "&#36;", "`": "&#96;", "\\": "&#92;", "{": "&#123;", "}": "&#125;"}
)


def safe(text: object) -> str:
    """Return ``text`` as HTML that stays inert in every map sink.

    Parameters
    ----------
    text : object
        Any value; ``None``, ``pandas.NA`` and NaN give ``""``, anything else goes through
        ``str``.

    Returns
    -------
    str
        ``html.escape(str(text))`` with ``$``, the backtick, the backslash and the braces
        replaced by numeric character references (they display as themselves).

    Examples
    --------
    >>> safe('<img src=x onerror="alert(1)">${x}`')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&#36;&#123;x&#125;&#96;'
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    if type(text).__name__ in ("NAType", "NaTType"):
        return ""
    return html.escape(str(text), quote=True).translate(_SCRIPT_SYNTAX)
