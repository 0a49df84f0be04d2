from __future__ import annotations

import math

import pandas as pd

from web.maps.escape import safe


def test_html_template_literal_and_jinja_characters_are_neutralised():
    text = '<img src=x onerror="window.__pwned=1">${window.__pwned=2}`\\u{{ 1 }}'
    out = safe(text)
    for raw in ("<", ">", '"', "$", "`", "\\", "{", "}"):
        assert raw not in out
    assert out == (
        "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;&#36;&#123;window.__pwned=2&#125;"
        "&#96;&#92;u&#123;&#123; 1 &#125;&#125;"
    )


def test_ampersand_and_quotes():
    assert safe('A & B\'s "c"') == "A &amp; B&#x27;s &quot;c&quot;"


def test_missing_values_are_empty_and_others_are_text():
    for missing in (None, math.nan, pd.NA, pd.NaT):
        assert safe(missing) == ""
    assert safe(12) == "12"
    assert safe("网格员 张三") == "网格员 张三"
