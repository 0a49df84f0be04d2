"""Attribution of the data drawn on a map (OpenStreetMap's licence asks for it)."""

from __future__ import annotations

from collections.abc import Iterable

from branca.element import MacroElement
from jinja2 import Template

from web.maps.escape import safe

__all__ = ["OSM_ATTRIBUTION", "DataAttribution", "osm_attribution"]

#: Plain text (no link: pages load and link nothing outside the service).
OSM_ATTRIBUTION = "© OpenStreetMap contributors, ODbL"


class DataAttribution(MacroElement):
    """Adds a line to the map's attribution control (bottom right), escaped.

    Parameters
    ----------
    text : str
        Plain text, e.g. :data:`OSM_ATTRIBUTION`.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.text|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "DataAttribution"
        self.text = safe(text)


def osm_attribution(descriptions: Iterable[str]) -> str | None:
    """Return :data:`OSM_ATTRIBUTION` when a layer description names OpenStreetMap, else None."""
    found = any("openstreetmap" in (d or "").lower() for d in descriptions)
    return OSM_ATTRIBUTION if found else None
