"""liberation.report._csv.write_csv: the bytes of DataFrame.to_csv(index=False), checked against pandas itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liberation.report import _csv
from liberation.report._csv import write_csv


def _same(table: pd.DataFrame, tmp_path) -> None:
    a, b = tmp_path / "pandas.csv", tmp_path / "ours.csv"
    table.to_csv(a, index=False)
    write_csv(table, b)
    assert b.read_bytes() == a.read_bytes()


def _odd_floats(rng, n):
    bits = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
    v = bits.view(np.float64)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e16, 1e15, 9999999999999998.0, 1e-4, 1e-5, 0.1, 1 / 3,
                        5e-324, 1.7976931348623157e308, 1e22, 123456.789, 933000.0])
    return np.concatenate([special, v, rng.random(n) * 10.0 ** rng.integers(-9, 20, n)])


def test_float_text_is_numpy_text():
    """float.__repr__ / int.__repr__ give what numpy's astype(str) (pandas' formatting) gives."""
    rng = np.random.default_rng(5)
    v = _odd_floats(rng, 200_000)
    v = v[~np.isnan(v)]
    assert list(map(float.__repr__, v.tolist())) == v.astype(str).tolist()
    i = np.concatenate([rng.integers(-2**63, 2**63 - 1, 10_000, dtype=np.int64), [0, -1, 2**63 - 1, -2**63]])
    assert list(map(int.__repr__, i.tolist())) == i.astype(str).tolist()


def test_mixed_table_identical_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(_csv, "BLOCK_ROWS", 1000)  # several blocks, the last one short
    rng = np.random.default_rng(1)
    n = 2 * 1000 + 357
    f = _odd_floats(rng, n)[:n]
    t = pd.DataFrame({
        "particle_id": np.arange(n, dtype=np.int64) * 7919,
        "voxels": rng.integers(0, 2**40, n).astype(np.uint64),
        "i32": rng.integers(-1000, 1000, n).astype(np.int32),
        "x": f,
        "y": np.where(rng.random(n) < 0.2, np.nan, rng.random(n)),
        "excluded": rng.random(n) < 0.5,
        "mineral": rng.choice(["quartz", "spodumene", "albite é"], n),
        "size_class": pd.Series(rng.choice(["<63", "63-100", ">=250"], n)).where(rng.random(n) > 0.1),
        "obj": pd.Series(rng.choice(["a", "b"], n), dtype=object),
    })
    _same(t, tmp_path)


@pytest.mark.parametrize("case", ["comma", "quote", "newline", "float32", "category", "nullable", "one_column",
                                  "empty", "objects", "header"])
def test_tables_pandas_writes(case, tmp_path):
    """Tables the fast path does not take (quoting, other types, edge shapes): still the pandas bytes."""
    rng = np.random.default_rng(2)
    n = 50
    t = pd.DataFrame({"a": rng.random(n), "b": rng.integers(0, 9, n)})
    if case == "comma":
        t["s"] = rng.choice(["x,y", "z"], n)
    elif case == "quote":
        t["s"] = rng.choice(['say "hi"', "z"], n)
    elif case == "newline":
        t["s"] = rng.choice(["x\ny", "z\r"], n)
    elif case == "float32":
        t["s"] = rng.random(n).astype(np.float32)
    elif case == "category":
        t["s"] = pd.Categorical(rng.choice(["p", "q"], n))
    elif case == "nullable":
        t["s"] = pd.array(np.where(rng.random(n) < 0.3, None, rng.integers(0, 5, n)), dtype="Int64")
    elif case == "one_column":
        t = pd.DataFrame({"a": np.where(rng.random(n) < 0.3, np.nan, rng.random(n))})
    elif case == "empty":
        t = t.iloc[:0]
    elif case == "objects":
        t["s"] = pd.Series([(1, 2)] * n, dtype=object)
    elif case == "header":
        t.columns = ["a,b", "c"]
    _same(t, tmp_path)
