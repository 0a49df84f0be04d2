"""Export a layer to GeoJSON (RFC 7946), GeoPackage or CSV, in a form GridMap imports back.

- GeoJSON: a FeatureCollection in WGS 84 longitude/latitude, polygons wound counter-clockwise,
  no ``crs`` member; lists are JSON arrays and date-times ISO 8601 text with their UTC offset.
- CSV (UTF-8 with a byte-order mark, so spreadsheet programs show Chinese text): ``lon``/``lat``
  columns for point layers, a ``wkt`` column for polygon layers, then the attributes; lists as
  JSON, date-times ISO 8601 with offset, numbers at full precision.
- GeoPackage: one table named after the layer; lists as JSON text, date-times in UTC.

Files are written beside the target and moved into place, so a failed export leaves no
half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gridmap import model
from gridmap.errors import GridMapError
from gridmap.model import Layer
from gridmap.stores.base import BBox, Store, Where

__all__ = ["export_layer", "iso_times", "write_csv", "write_geojson"]

FORMATS = {".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg", ".csv": "csv"}
_CHUNK = 100_000
_encode_string = json.encoder.encode_basestring  # JSON string literal, non-ASCII kept


def export_layer(
    store: Store,
    layer: str,
    path: str | Path,
    *,
    bbox: BBox | None = None,
    where: Where | None = None,
) -> int:
    """Write the rows of a layer to a file whose extension picks the format.

    Parameters
    ----------
    store : Store
        The store to read.
    layer : str
        The layer to export.
    path : str or Path
        ``.geojson``/``.json`` (GeoJSON, RFC 7946), ``.gpkg`` (GeoPackage) or ``.csv``. An
        existing file is replaced.
    bbox : tuple of float, optional
        Only rows intersecting ``(min lon, min lat, max lon, max lat)``.
    where : mapping, optional
        Attribute filters, as for :meth:`gridmap.stores.base.Store.read`.

    Returns
    -------
    int
        The number of rows written.

    Raises
    ------
    gridmap.errors.GridMapError
        If the extension is not a format GridMap writes, or the file is the store itself.

    Examples
    --------
    >>> export_layer(store, "incidents", "incidents.geojson", where={"status": "received"})
    ... # doctest: +SKIP
    42
    """
    spec = model.layer(layer)
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        known = ", ".join(FORMATS)
        raise GridMapError(f"cannot export to {path.name}: unknown file type (use one of {known})")
    if path.exists() and Path(getattr(store, "url", "")).resolve() == path.resolve():
        raise GridMapError(f"{path} is the store itself: export to another file")
    rows = store.read(spec.name, bbox=bbox, where=where)
    if kind == "geojson":
        write_geojson(rows, path)
    elif kind == "csv":
        write_csv(rows[[*spec.columns, "geometry"]], path, points=spec.geometry == "Point")
    else:
        _write_gpkg(spec, rows, path)
    return len(rows)


# -- value formatting ------------------------------------------------------------------------------
def iso_times(values: pd.Series) -> np.ndarray:
    """Return ISO 8601 text with the UTC offset (``2025-03-01T10:00:00.000+08:00``).

    Parameters
    ----------
    values : pandas.Series
        Timezone-aware date-times (naive ones are taken as UTC).

    Returns
    -------
    numpy.ndarray
        Object array of str (None where a time is missing); millisecond precision, in each
        value's own timezone.
    """
    times = pd.Series(values)
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        times = pd.to_datetime(times, utc=True)
    wall = times.dt.tz_localize(None)
    utc = times.dt.tz_convert("UTC").dt.tz_localize(None)
    minutes = ((wall - utc) / pd.Timedelta(minutes=1)).fillna(0).astype(int).to_numpy()
    text = np.datetime_as_string(wall.to_numpy().astype("datetime64[ms]"), unit="ms")
    unique, which = np.unique(minutes, return_inverse=True)
    signs = np.where(unique >= 0, "+", "-")
    offsets = [
        f"{s}{abs(m) // 60:02d}:{abs(m) % 60:02d}" for s, m in zip(signs, unique, strict=True)
    ]
    out = text.astype(object) + np.array(offsets, dtype=object)[which]
    out[wall.isna().to_numpy()] = None
    return out


def _is_list_column(values: pd.Series) -> bool:
    first = values.dropna()
    return values.dtype == object and len(first) > 0 and isinstance(first.iloc[0], list | tuple)


def _json_lists(values: pd.Series) -> list[str | None]:
    return [None if v is None else json.dumps(list(v), ensure_ascii=False) for v in values.tolist()]


# -- CSV -------------------------------------------------------------------------------------------
def write_csv(frame: pd.DataFrame, path: str | Path, *, points: bool | None = None) -> None:
    """Write rows as CSV: coordinates first, then the attributes.

    Parameters
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        The rows. A GeoDataFrame's geometry (in WGS 84) becomes ``lon``/``lat`` columns for
        points, else a ``wkt`` column. Lists are written as JSON, date-times as ISO 8601 with
        their offset, numbers at full precision.
    path : str or Path
        The file, replaced atomically; UTF-8 with a byte-order mark.
    points : bool, optional
        Whether the geometry is points; default: whether every present geometry is a point.
    """
    out = pd.DataFrame(index=frame.index)
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame:
        if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
            frame = frame.to_crs("EPSG:4326")
        geoms = frame.geometry.to_numpy()
        if points is None:
            points = bool(np.isin(shapely.get_type_id(geoms), (-1, 0)).all())
        if points:
            out["lon"], out["lat"] = shapely.get_x(geoms), shapely.get_y(geoms)
        else:
            out["wkt"] = shapely.to_wkt(geoms, rounding_precision=-1)
        frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    for name in frame.columns:
        values = frame[name]
        if isinstance(values.dtype, pd.DatetimeTZDtype) or values.dtype.kind == "M":
            out[name] = iso_times(values)
        elif _is_list_column(values):
            out[name] = _json_lists(values)
        else:
            out[name] = values
    with _replacing(Path(path)) as tmp:
        out.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")


# -- GeoJSON ---------------------------------------------------------------------------------------
def _json_column(values: pd.Series) -> np.ndarray:
    """Return every value of a column as JSON text (``null`` when missing), as an object array."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or values.dtype.kind == "M":
        text = iso_times(values)
        missing = pd.isna(text)
        text[~missing] = '"' + text[~missing] + '"'  # ISO 8601 text needs no escaping
        text[missing] = "null"
        return text
    if values.dtype.kind == "f":
        arr = values.to_numpy(dtype=float)
        return np.where(np.isfinite(arr), arr.astype(str), "null").astype(object)
    if values.dtype.kind in "iub" or isinstance(values.dtype, pd.Int64Dtype | pd.BooleanDtype):
        return values.astype("string").str.lower().fillna("null").to_numpy(dtype=object)
    if _is_list_column(values):
        return np.array(
            [json.dumps([str(x) for x in v], ensure_ascii=False) for v in values.tolist()],
            dtype=object,
        )
    # text: encode each distinct value once, with the json module's C string encoder
    codes, unique = pd.factorize(values.astype(object), use_na_sentinel=True)
    encoded = [_encode(v) for v in np.asarray(unique, dtype=object).tolist()] + ["null"]
    return np.array(encoded, dtype=object)[codes]


def _encode(value: object) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str):
        return _encode_string(value)
    if isinstance(value, pd.Timestamp):
        return _encode_string(value.isoformat())
    return json.dumps(value, ensure_ascii=False)


def write_geojson(frame: gpd.GeoDataFrame, path: str | Path) -> None:
    """Write ``frame`` as an RFC 7946 GeoJSON FeatureCollection.

    Parameters
    ----------
    frame : geopandas.GeoDataFrame
        Rows to write; reprojected to WGS 84 when they carry another CRS. Attribute columns
        become properties (lists as arrays, date-times ISO 8601 with offset, NaN as null).
    path : str or Path
        The file, replaced atomically; UTF-8, coordinates at full precision.
    """
    if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
        frame = frame.to_crs("EPSG:4326")
    names = [c for c in frame.columns if c != frame.geometry.name]
    keys = [json.dumps(str(n), ensure_ascii=False) + ":" for n in names]
    with _replacing(Path(path)) as tmp, tmp.open("w", encoding="utf-8") as f:
        f.write('{"type":"FeatureCollection","features":[')
        for start in range(0, max(len(frame), 1), _CHUNK):
            part = frame.iloc[start : start + _CHUNK]
            if not len(part):
                break
            geoms = shapely.orient_polygons(part.geometry.to_numpy(), exterior_cw=False)
            geojson = shapely.to_geojson(geoms)
            # build the features column by column (elementwise str + on object arrays)
            text = np.full(len(part), '{"type":"Feature","properties":{', dtype=object)
            for i, (key, name) in enumerate(zip(keys, names, strict=True)):
                text = text + (("," if i else "") + key) + _json_column(part[name])
            geojson[shapely.is_missing(geoms)] = "null"
            text = text + '},"geometry":' + geojson.astype(object) + "}"
            f.write(("," if start else "") + "\n" + ",\n".join(text.tolist()))
        f.write("\n]}\n")


# -- GeoPackage -------------------------------------------------------------------------------------
def _write_gpkg(spec: Layer, rows: gpd.GeoDataFrame, path: Path) -> None:
    out = rows.copy()
    for f in spec.fields:
        if f.kind == "list":
            out[f.name] = _json_lists(out[f.name])
        elif f.kind == "datetime":
            out[f.name] = pd.to_datetime(out[f.name], utc=True)
    with _replacing(path) as tmp:
        pyogrio.write_dataframe(
            out, tmp, layer=spec.name, driver="GPKG", geometry_type=spec.geometry
        )


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` when the block succeeds."""
    if not path.parent.exists():
        raise GridMapError(f"cannot write {path}: no folder {path.parent}")
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()  # GDAL and pandas create the file themselves
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise GridMapError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
