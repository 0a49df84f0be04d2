import sqlite3

import pytest

from gridmap.stores.sqlite_bulk import ROWS_PER_STATEMENT, insert_columns


@pytest.mark.parametrize(
    "n", [1, 2, ROWS_PER_STATEMENT - 1, ROWS_PER_STATEMENT, 3 * ROWS_PER_STATEMENT + 7]
)
def test_rows_arrive_unchanged(n):
    con = sqlite3.connect(":memory:", isolation_level=None)
    con.execute("CREATE TABLE t (a, b, c, d, e, f)")
    cols = [
        list(range(n)),
        ['it\'s "quoted"; DROP TABLE t; --'] * n,  # constant text with SQL metacharacters
        [None] * n,
        [1.5] * n,
        [b"\x00blob"] * n,  # constant bytes stay bound
        [f"v{i}\x00" for i in range(n)],
    ]
    insert_columns(con, "t", ["a", "b", "c", "d", "e", "f"], cols)
    rows = con.execute("SELECT * FROM t ORDER BY a").fetchall()
    assert rows == list(zip(*cols, strict=True))
    assert [type(v) for v in rows[0]] == [int, str, type(None), float, bytes, str]


def test_mixed_types_are_not_inlined():
    con = sqlite3.connect(":memory:", isolation_level=None)
    con.execute("CREATE TABLE t (a)")
    insert_columns(con, "t", ["a"], [[1, 1.0, True]])
    assert [type(r[0]) for r in con.execute("SELECT a FROM t")] == [int, float, int]
