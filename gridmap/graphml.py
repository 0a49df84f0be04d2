"""A small GraphML reader for road networks saved by OSMnx (``ox.save_graphml``).

OSMnx writes every attribute as text (``"12.5"``, ``"True"``, ``"['A', 'B']"``); other tools may
declare typed keys. Both read here into plain tables: the graph's attributes, the nodes and the
edges with their ``data`` values keyed by attribute name (declared defaults filled in).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gridmap.errors import GridMapError

__all__ = ["GraphML", "read_graphml"]

_NS = "{http://graphml.graphdrawing.org/xmlns}"


@dataclass(frozen=True)
class GraphML:
    """A graph read from GraphML.

    Attributes
    ----------
    attributes : dict
        The graph's own attributes (OSMnx: ``crs``, ``created_date``...).
    directed : bool
        Whether edges are directed by default (``edgedefault``).
    nodes : DataFrame
        One row per node, indexed by the node id (text), one column per attribute.
    edges : DataFrame
        One row per edge with ``u``, ``v`` (node ids), ``key`` (the edge id, or its number among
        the edges joining the same nodes) and one column per attribute.
    """

    attributes: dict[str, str]
    directed: bool
    nodes: pd.DataFrame
    edges: pd.DataFrame


def _tag(element: ET.Element) -> str:
    return element.tag.removeprefix(_NS)


def _keys(root: ET.Element) -> dict[str, dict[str, tuple[str, str | None]]]:
    """Return, per domain (graph, node, edge), key id -> (attribute name, default)."""
    out: dict[str, dict[str, tuple[str, str | None]]] = {"graph": {}, "node": {}, "edge": {}}
    for key in root.iter(f"{_NS}key"):
        default = key.find(f"{_NS}default")
        entry = (
            key.get("attr.name") or key.get("id", ""),
            None if default is None else default.text,
        )
        domains = ("graph", "node", "edge") if key.get("for", "all") == "all" else (key.get("for"),)
        for domain in domains:
            if domain in out:
                out[domain][key.get("id", "")] = entry
    return out


def _data(element: ET.Element, keys: dict[str, tuple[str, str | None]]) -> dict[str, str | None]:
    values = {name: default for name, default in keys.values() if default is not None}
    for data in element.findall(f"{_NS}data"):
        name = keys.get(data.get("key", ""), (data.get("key", ""), None))[0]
        values[name] = data.text
    return values


def read_graphml(path: str | Path) -> GraphML:
    """Read the first graph of a GraphML file.

    Raises
    ------
    GridMapError
        If the file is not GraphML or holds no graph.
    """
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise GridMapError(f"{Path(path).name} is not a GraphML file: {exc}") from None
    graph = root.find(f"{_NS}graph")
    if _tag(root) != "graphml" or graph is None:
        raise GridMapError(f"{Path(path).name} is not a GraphML file with a graph")
    keys = _keys(root)
    directed = graph.get("edgedefault", "directed") == "directed"
    nodes = {node.get("id"): _data(node, keys["node"]) for node in graph.iter(f"{_NS}node")}
    rows = []
    for edge in graph.iter(f"{_NS}edge"):
        rows.append(
            {
                "u": edge.get("source"),
                "v": edge.get("target"),
                "key": edge.get("id"),
                **_data(edge, keys["edge"]),
            }
        )
    edges = pd.DataFrame(rows, columns=None if rows else ["u", "v", "key"])
    if len(edges):
        number = edges.groupby(["u", "v"]).cumcount().astype(str)
        edges["key"] = edges["key"].where(edges["key"].notna(), number).astype(str)
    return GraphML(
        attributes={k: v for k, v in _data(graph, keys["graph"]).items() if v is not None},
        directed=directed,
        nodes=pd.DataFrame.from_dict(nodes, orient="index"),
        edges=edges,
    )
