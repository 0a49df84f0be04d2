"""A layer of markers built in the browser from a compact table of rows.

Folium writes a few hundred bytes of JavaScript per ``folium.Marker`` (the marker, its icon, its
tooltip); a few thousand markers make megabytes. :class:`RowLayer` ships one JSON table and one
JavaScript function instead, like :class:`folium.plugins.FastMarkerCluster` but without
clustering (the layer is a plain ``L.featureGroup`` listed in the layer control).
"""

from __future__ import annotations

from collections.abc import Sequence

from folium.map import FeatureGroup
from jinja2 import Template

__all__ = ["RowLayer"]


class RowLayer(FeatureGroup):
    """Markers made by ``callback(row)`` for each row of ``data``, in one feature group.

    Parameters
    ----------
    data : sequence of sequences
        One row per marker (``[lat, lon, ...]``), JSON-able. Text in rows must already be
        escaped for the sink the callback puts it in (:func:`web.maps.escape.safe`).
    callback : str
        A JavaScript ``function (row) { return <a Leaflet layer>; }``.
    name : str
        The layer's name in the layer control.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = (function () {
                var callback = {{ this.callback }};
                var data = {{ this.data|tojson }};
                var group = L.featureGroup();
                for (var i = 0; i < data.length; i++) {
                    callback(data[i]).addTo(group);
                }
                return group;
            })();
        {% endmacro %}
        """
    )

    def __init__(self, data: Sequence[Sequence[object]], callback: str, name: str) -> None:
        super().__init__(name=name)
        self._name = "RowLayer"
        self.data = [list(row) for row in data]
        self.callback = callback.strip()
