"""The streaming CSV reader: chunks, one clear message per kind of bad input, and files as
people have them (byte-order mark, no header, semicolons or tabs, compressed)."""
import bz2
import gzip
import io
import lzma
import zipfile

import numpy as np
import pytest

from simulators.storage.csv_read import (CsvFormat, CsvSummary, ReadProgress, check_summary, parse_sep, read_header,
                                 sample_rows, stream_csv)
from simulators.core.errors import InputError


def _write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _read_all(path, chunk_size=4, **kw):
    summary = CsvSummary(names=[])
    chunks = list(stream_csv(path, chunk_size, summary=summary, **kw))
    check_summary(path, summary, min_rows=chunk_size or 1)
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
    ("a,b\n1,2\n3,4\n4,-1e300\n6,7\n", "column 'b' has a value beyond float32's range on line 4"),
    ("a,b\n1,2\n1,3\n1,5\n1,7\n", "column 'a' is constant"),
    ("a,a\n1,2\n3,4\n5,6\n7,9\n", "duplicate column name 'a'"),
    ("a\n1\n2\n3\n4\n", "needs at least 2 columns"),
    ("a,b\n1,2\n3,4\n", "2 rows, but the model needs at least 4"),
    ("a,b\n1,2\n", "1 row, but the model needs at least 4"),
    ("", "the file is empty"),
    ("a,b\n", "no data rows"),
    ("\n1,2\n", "line 1 is blank"),
])
def test_bad_inputs_name_the_problem(tmp_path, text, needle):
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        _read_all(path)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_cell_errors_are_not_reworded_as_malformed(tmp_path):
    with pytest.raises(InputError) as err:
        _read_all(_write(tmp_path, "a,b\n1,2\n3,x\n4,5\n6,7\n"))
    assert str(err.value) == f"{tmp_path / 'data.csv'}: column 'b' is not numeric: 'x' on line 3"


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        _read_all(tmp_path / "nope.csv")


def test_drop_missing_skips_rows(tmp_path):
    path = _write(tmp_path, "a,b\n1,2\n3,\n4,5\n6,7\nnan,1\n8,9\n")
    chunks, summary = _read_all(path, drop_missing=True)
    assert summary.rows == 4 and summary.dropped == 2
    np.testing.assert_allclose(np.concatenate(chunks)[:, 0], [1, 4, 6, 8])


# --- files as people have them: byte-order mark, no header, other delimiters, compression ---

BODY = "1.5,2,3\n4,5.5,7\n7,8,2.5\n2,1,1\n"
VALUES = [[1.5, 2, 3], [4, 5.5, 7], [7, 8, 2.5], [2, 1, 1]]


def test_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufeffRaf,Mek,Erk\n" + BODY).encode("utf-8"))
    chunks, summary = _read_all(path)
    assert summary.names == ["Raf", "Mek", "Erk"]
    np.testing.assert_allclose(np.concatenate(chunks), VALUES)


def test_all_numeric_header_is_refused_with_a_hint(tmp_path):
    path = _write(tmp_path, BODY)
    with pytest.raises(InputError) as err:
        _read_all(path)
    message = str(err.value)
    assert "first row (1.5,2,3) is all numbers" in message and "--no-header" in message and "\n" not in message


def test_no_header_names_columns_and_keeps_the_first_row(tmp_path):
    path = tmp_path / "raw.csv"
    path.write_bytes(("\ufeff" + BODY).encode("utf-8"))  # a mark before a number must not make it text
    chunks, summary = _read_all(path, fmt=CsvFormat(header=False))
    assert summary.names == ["X0", "X1", "X2"] and summary.rows == 4
    np.testing.assert_allclose(np.concatenate(chunks), VALUES)
    bad = _write(tmp_path, "1,2\nx,3\n4,5\n6,7\n")
    with pytest.raises(InputError, match="'X0' is not numeric: 'x' on line 2"):  # lines count from the first row
        _read_all(bad, fmt=CsvFormat(header=False))


@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolon_and_tab_are_sniffed(tmp_path, sep):
    path = _write(tmp_path, sep.join(["a", "b", "c"]) + "\n" + BODY.replace(",", sep))
    chunks, summary = _read_all(path)
    assert summary.names == ["a", "b", "c"]
    np.testing.assert_allclose(np.concatenate(chunks), VALUES)


@pytest.mark.parametrize("header", [True, False])
def test_decimal_commas_read_as_numbers_and_are_never_the_delimiter(tmp_path, header):
    # 1,5;2;3: with decimal commas the comma would split this line into more fields than ';' does
    text = ("a;b;c\n" if header else "") + BODY.replace(",", ";").replace(".", ",")
    chunks, summary = _read_all(_write(tmp_path, text), fmt=CsvFormat(header=header, decimal=","))
    assert summary.names == (["a", "b", "c"] if header else ["X0", "X1", "X2"])
    np.testing.assert_allclose(np.concatenate(chunks), VALUES)
    with pytest.raises(InputError, match="is all numbers, not column names"):  # 1,5 is a number, not a name
        _read_all(_write(tmp_path, BODY.replace(",", ";").replace(".", ","), "raw.csv"), fmt=CsvFormat(decimal=","))


def test_a_decimal_comma_read_as_text_gets_a_hint(tmp_path):
    with pytest.raises(InputError) as err:
        _read_all(_write(tmp_path, "a;b;c\n" + BODY.replace(",", ";").replace(".", ",")))
    assert str(err.value).endswith("column 'a' is not numeric: '1,5' on line 2 (a decimal comma? --decimal ',' "
                                   "reads 1,5 as 1.5)")
    with pytest.raises(InputError) as err:  # no hint where a comma would not make a number
        _read_all(_write(tmp_path, "a;b\n1;2\n3;x,y\n4;5\n6;7\n"))
    assert str(err.value).endswith("is not numeric: 'x,y' on line 3")


@pytest.mark.parametrize("kw, needle", [({"decimal": ";"}, "--decimal must be '.' or ','"),
                                        ({"sep": ",", "decimal": ","}, "--sep and --decimal cannot both be ','")])
def test_format_refuses_an_unknown_mark_or_one_mark_for_both(kw, needle):
    with pytest.raises(InputError, match=needle):
        CsvFormat(**kw)


@pytest.mark.parametrize("header", [True, False])
def test_a_first_column_of_row_labels_is_skipped_when_asked(tmp_path, header):
    rows = [f"sample {i},{line}" for i, line in enumerate(BODY.splitlines())]
    path = _write(tmp_path, ("id,a,b,c\n" if header else "") + "\n".join(rows) + "\n")
    chunks, summary = _read_all(path, fmt=CsvFormat(header=header, index_col=True))
    assert summary.names == (["a", "b", "c"] if header else ["X0", "X1", "X2"])
    np.testing.assert_allclose(np.concatenate(chunks), VALUES)
    with pytest.raises(InputError) as err:  # read as a variable, the labels get a hint
        _read_all(path, fmt=CsvFormat(header=header))
    assert str(err.value).endswith("is not numeric: 'sample 0' on line " + ("2" if header else "1")
                                   + " (row labels, as pandas' to_csv writes its index? --index-col skips the first "
                                   "column)")
    ragged = _write(tmp_path, "id,a,b\nr1,1,2\nr2,3,4,5\nr3,5,6\nr4,7,9\n", "ragged.csv")
    with pytest.raises(InputError, match="line 3 has 4 fields, expected 3|Expected 3 fields in line 3, saw 4"):
        _read_all(ragged, fmt=CsvFormat(index_col=True))


def test_no_hint_for_row_labels_where_the_text_is_not_in_the_first_column(tmp_path):
    with pytest.raises(InputError) as err:
        _read_all(_write(tmp_path, "a,b\n1,2\n3,x\n4,5\n6,7\n"))
    assert str(err.value).endswith("column 'b' is not numeric: 'x' on line 3")


def test_a_column_far_from_zero_is_read_less_an_offset_fixed_on_the_first_block_and_a_mask_never(tmp_path):
    rng = np.random.default_rng(6)
    data = np.column_stack([3e8 + rng.normal(size=40), rng.normal(size=40)])
    path = _write(tmp_path, "a,b\n" + "\n".join(f"{a:.17g},{b:.17g}" for a, b in data) + "\n")
    chunks, summary = _read_all(path, chunk_size=4, offset_columns=True)  # a plain read: 'a' is constant in float32
    assert summary.offsets[1] == 0.0 and abs(summary.offsets[0] - 3e8) < 3
    np.testing.assert_allclose(np.concatenate(chunks) + summary.offsets, data, rtol=0, atol=1e-5)
    sample = sample_rows(path, 10, offsets=summary.offsets)  # the standardization rows, read alike
    assert np.isin(sample, np.concatenate(chunks)).all()
    with pytest.raises(InputError, match="column 'a' is constant"):
        _read_all(path, chunk_size=4)
    mask = _write(tmp_path, "a,b\n" + "1,0\n1,1\n" * 20, "mask.csv")  # 'a': intervened on every row
    summary = CsvSummary(names=[])
    chunks = list(stream_csv(mask, 4, summary=summary))  # 0/1 as written: no offset unless asked
    assert summary.offsets is None and (np.concatenate(chunks)[:, 0] == 1).all()
    list(stream_csv(mask, 4, summary=summary, offset_columns=True))
    assert summary.offsets[0] == 1.0  # asked, it would read 'a' as 0


def test_sample_rows_reads_every_part_of_a_sorted_file_and_skips_what_does_not_parse(tmp_path):
    values = np.sort(np.random.default_rng(4).normal(size=(10_000, 2)), axis=0).round(6)
    lines = [f"r{i};{a:.6f};{b:.6f}".replace(".", ",") for i, (a, b) in enumerate(values)]
    lines[5000] = "r5000;x;1"  # a bad line is left out, not an error here
    path = _write(tmp_path, "id;a;b\n" + "\n".join(lines) + "\n")
    sample = sample_rows(path, 250, CsvFormat(decimal=",", index_col=True))
    assert sample.shape in ((250, 2), (249, 2)) and sample.dtype == np.float32
    assert sample[0, 0] == pytest.approx(values[0, 0], abs=1e-5)  # the first data row, then evenly on
    assert np.quantile(values[:, 0], 0.01) > sample[:, 0].min() and sample[:, 0].max() > np.quantile(values[:, 0], 0.99)
    assert np.isin(sample[:, 0], values[:, 0].astype(np.float32)).all()  # whole rows, not pieces
    gz = tmp_path / "data.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert sample_rows(gz, 250, CsvFormat(decimal=",", index_col=True)) is None  # cannot be read from the middle


def test_sniffing_counts_fields_not_characters(tmp_path):
    # quoted names may hold another candidate: the comma splits this header into 3 fields, ';' into 1
    path = _write(tmp_path, '"x; raw",y,z\n' + BODY)
    assert _read_all(path)[1].names == ["x; raw", "y", "z"]
    assert read_header(_write(tmp_path, "only\n1\n", "one.csv")) == (["only"], ",")


def test_forced_separator_and_one_column_names_the_delimiter(tmp_path):
    path = _write(tmp_path, "a|b\n1|2\n3|4\n5|6\n7|9\n")
    with pytest.raises(InputError) as err:
        _read_all(path)
    assert "found 1 with the comma (',') delimiter; --sep sets another" in str(err.value)
    chunks, summary = _read_all(path, fmt=CsvFormat(sep=parse_sep("|")))
    assert summary.names == ["a", "b"] and np.concatenate(chunks)[:, 1].tolist() == [2, 4, 6, 9]
    with pytest.raises(InputError, match=r"with the semicolon \(';'\) delimiter"):
        _read_all(path, fmt=CsvFormat(sep=";"))


@pytest.mark.parametrize("text, sep", [("tab", "\t"), ("\\t", "\t"), ("TAB", "\t"), (";", ";"), ("comma", ",")])
def test_parse_sep(text, sep):
    assert parse_sep(text) == sep


@pytest.mark.parametrize("text", ["", ";;", '"', "auto"])
def test_parse_sep_refuses(text):
    with pytest.raises(InputError, match="--sep must be one character"):
        parse_sep(text)


def _zip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("inner.csv", data)
    return buf.getvalue()


COMPRESS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress, ".zip": _zip}


@pytest.mark.parametrize("suffix", sorted(COMPRESS))
def test_compressed_files_read_like_plain_ones(tmp_path, suffix):
    path = tmp_path / f"data.csv{suffix}"
    path.write_bytes(COMPRESS[suffix](("\ufeffa;b;c\n" + BODY.replace(",", ";")).encode("utf-8")))
    chunks, summary = _read_all(path)
    assert summary.names == ["a", "b", "c"]
    np.testing.assert_allclose(np.concatenate(chunks), VALUES)


def test_zstd_needs_its_package_or_reads(tmp_path):
    path = tmp_path / "data.csv.zst"
    try:
        import zstandard
    except ImportError:
        path.write_bytes(b"\x28\xb5\x2f\xfd")
        with pytest.raises(InputError, match="needs the zstandard package"):
            _read_all(path)
        return
    path.write_bytes(zstandard.ZstdCompressor().compress(("a,b,c\n" + BODY).encode()))
    np.testing.assert_allclose(np.concatenate(_read_all(path)[0]), VALUES)


@pytest.mark.parametrize("name, data, needle", [
    ("fake.csv.gz", b"a,b\n1,2\n", "cannot read: Not a gzipped file"),
    ("cut.csv.gz", gzip.compress(("a,b\n" + "1,2\n3,4\n" * 5000).encode())[:-40], "cannot read: Compressed file ended"),
    ("junk.csv.zip", b"PK", "cannot read"),
    ("latin.csv", "a,b\n1,2\n\xe9,3\n".encode("latin-1"), "is not UTF-8 text (byte 0xe9); save it as UTF-8"),
])
def test_damaged_files_give_one_line(tmp_path, name, data, needle):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError) as err:
        _read_all(path)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_zip_with_several_files_is_refused(tmp_path):
    path = tmp_path / "two.csv.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", "a,b\n1,2\n")
        archive.writestr("b.csv", "a,b\n1,2\n")
    with pytest.raises(InputError, match="must hold exactly one file, found 2"):
        _read_all(path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_progress_by_bytes_of_the_file_on_disk_while_streaming(tmp_path, suffix):
    rng = np.random.default_rng(1)
    text = "a,b\n" + "".join(f"{x:.6f},{y:.6f}\n" for x, y in rng.normal(size=(150000, 2)))
    path = tmp_path / f"big.csv{suffix}"
    path.write_bytes(gzip.compress(text.encode()) if suffix else text.encode())
    reports = []
    stream = stream_csv(path, 50, summary=CsvSummary(names=[]), on_progress=reports.append)
    next(stream)
    # streamed: the first chunk arrives before the file has been consumed (compressed bytes for .gz)
    assert len(reports) == 1 and 0 < reports[0].bytes_read < reports[0].bytes_total == path.stat().st_size
    rest = list(stream)
    assert 1 + len(rest) == 3000
    assert [r.bytes_read for r in reports] == sorted(r.bytes_read for r in reports)
    assert reports[-1] == ReadProgress(path.stat().st_size, path.stat().st_size, 150000)


def test_without_a_chunk_size_the_parser_blocks_come_as_they_are(tmp_path):
    """chunk_size None: blocks of 65,536 rows (what predict streams), the same rows as any chunking."""
    data = np.random.default_rng(2).normal(size=(150000, 2)).round(4)
    path = _write(tmp_path, "a,b\n" + "".join(f"{x},{y}\n" for x, y in data))
    blocks, summary = _read_all(path, chunk_size=None)
    chunks, _ = _read_all(path, chunk_size=1000)
    assert [len(b) for b in blocks] == [65536, 65536, 150000 - 2 * 65536] and summary.rows == 150000
    np.testing.assert_array_equal(np.concatenate(blocks), np.concatenate(chunks))
    np.testing.assert_allclose(np.concatenate(blocks), data, rtol=1e-6)


@pytest.mark.parametrize("text, line", [("a,b\n1,2,3\n4,5,6\n", 2), ("a,b\n1\n2\n", 2), ("a,b\n1,2\n3,4,5\n", 3)])
def test_rows_with_another_number_of_fields_are_refused_by_line(tmp_path, text, line):
    """Extra fields are an error naming the line, never silently read as an index column."""
    path = tmp_path / "ragged.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=f"line {line} has|in line {line},"):
        list(stream_csv(path, 1))
