"""The streaming CSV reader: chunks, and one clear message per kind of bad input."""
import numpy as np
import pytest

from simulators.csv_read import CsvSummary, check_summary, stream_csv
from simulators.errors import InputError


def _write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _read_all(path, chunk_size=4, **kw):
    summary = CsvSummary(names=[])
    chunks = list(stream_csv(path, chunk_size, summary=summary, **kw))
    check_summary(path, summary, min_rows=chunk_size)
    return chunks, summary


def test_chunks_cover_the_file_in_order(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(10, 3))
    path = _write(tmp_path, "a,b,c\n" + "\n".join(",".join(f"{v:.6f}" for v in row) for row in data) + "\n")
    chunks, summary = _read_all(path, chunk_size=4)
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert summary.names == ["a", "b", "c"] and summary.rows == 10
    np.testing.assert_allclose(np.concatenate(chunks), data, atol=1e-5)
    assert all(c.dtype == np.float32 for c in chunks)


@pytest.mark.parametrize("text, needle", [
    ("a,b\n1,2\n3,x\n4,5\n6,7\n", "column 'b' is not numeric: 'x' on line 3"),
    ("a,b\n1,2\n3,\n4,5\n6,7\n", "column 'b' has a missing (NaN) value on line 3"),
    ("a,b\n1,2\n3,inf\n4,5\n6,7\n", "column 'b' has an infinite value on line 3"),
    ("a,b\n1,2\n1,3\n1,5\n1,7\n", "column 'a' is constant"),
    ("a,a\n1,2\n3,4\n5,6\n7,9\n", "duplicate column name 'a'"),
    ("a\n1\n2\n3\n4\n", "needs at least 2 columns"),
    ("a,b\n1,2\n3,4\n", "2 rows, but the model needs at least 4"),
    ("", "the file is empty"),
    ("a,b\n", "no data rows"),
])
def test_bad_inputs_name_the_problem(tmp_path, text, needle):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        _read_all(path)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        _read_all(tmp_path / "nope.csv")


def test_drop_missing_skips_rows(tmp_path):
    path = _write(tmp_path, "a,b\n1,2\n3,\n4,5\n6,7\nnan,1\n8,9\n")
    chunks, summary = _read_all(path, drop_missing=True)
    assert summary.rows == 4 and summary.dropped == 2
    np.testing.assert_allclose(np.concatenate(chunks)[:, 0], [1, 4, 6, 8])
