"""CSV folders and single CSV files as people have them: compressed, semicolon- or tab-separated,
with a byte-order mark or without a header, read by the loader and by `amort eval`."""
import gzip
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.app import app
from simulators.storage.csv_read import CsvFormat
from simulators.storage.csvio import write_csv_dataset
from simulators.core.dataset import Dataset
from simulators.core.errors import InputError
from simulators.storage.io import iter_datasets, source_name

runner = CliRunner()


def _dataset(name: str, seed: int, n: int = 60) -> Dataset:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = a + 0.5 * rng.normal(size=n)
    c = np.tanh(b) + 0.3 * rng.normal(size=n)
    graph = np.zeros((3, 3), dtype=np.uint8)
    graph[0, 1] = graph[1, 2] = 1
    return Dataset(name=name, x=np.column_stack([a, b, c]).astype(np.float32), graph=graph,
                   names=["Raf", "Mek", "Erk"])


def _respell(path, sep: str = ",", bom: bool = False, header: bool = True, gz: bool = False):
    """Rewrite a CSV file the way a spreadsheet or a shell script would have saved it."""
    lines = path.read_text().splitlines()[(0 if header else 1):]
    text = ("\ufeff" if bom else "") + "\n".join(line.replace(",", sep) for line in lines) + "\n"
    if gz:
        path.unlink()
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")


@pytest.fixture()
def folder(tmp_path):
    """Three datasets: gzipped (with gzipped edges), semicolons with byte-order marks, tabs."""
    out = tmp_path / "mine"
    originals = [_dataset(name, seed) for seed, name in enumerate(["a", "b", "c"])]
    for ds in originals:
        write_csv_dataset(out, ds)
    _respell(out / "a.csv", gz=True)
    _respell(out / "a.edges.csv", gz=True)
    _respell(out / "b.csv", sep=";", bom=True)
    _respell(out / "b.edges.csv", sep=";", bom=True)
    _respell(out / "c.csv", sep="\t")
    return out, originals


def test_folder_of_respelled_files_reads_as_written(folder):
    path, originals = folder
    datasets = list(iter_datasets(path))
    assert [ds.name for ds in datasets] == ["a", "b", "c"]
    for ds, original in zip(datasets, originals):
        assert ds.names == original.names
        np.testing.assert_array_equal(ds.x, original.x)  # %.9g round-trips float32
        np.testing.assert_array_equal(ds.graph, original.graph)


def test_one_compressed_file_is_a_source(folder):
    path, originals = folder
    (ds,) = iter_datasets(path / "a.csv.gz")
    np.testing.assert_array_equal(ds.graph, originals[0].graph)
    assert source_name(path / "a.csv.gz") == "a"


def test_a_dataset_twice_is_refused(folder):
    path, _ = folder
    write_csv_dataset(path, _dataset("a", 9))
    with pytest.raises(InputError, match="a.csv and a.csv.gz are both dataset 'a'; keep one"):
        list(iter_datasets(path))


def _eval(args):
    return runner.invoke(app, ["eval", "--model", "none", "--baselines", "random,varsort", *args])


def test_eval_reads_respelled_folder(folder, tmp_path):
    path, _ = folder
    result = _eval(["--data", str(path), "--out", str(tmp_path / "ev")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "ev" / "eval.json").read_text())["csv_format"] == {
        "sep": None, "header": True, "decimal": ".", "index_col": False}


def test_eval_without_header_needs_the_option(tmp_path):
    data = tmp_path / "raw"
    write_csv_dataset(data, _dataset("r", 0))
    (data / "r.edges.csv").write_text("cause,effect\nX0,X1\nX1,X2\n")
    _respell(data / "r.csv", sep=";", header=False)
    result = _eval(["--data", str(data), "--out", str(tmp_path / "e1")])
    assert result.exit_code == 2 and "--no-header" in result.output and "Traceback" not in result.output
    result = _eval(["--data", str(data), "--no-header", "--sep", ";", "--out", str(tmp_path / "e2")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "e2" / "eval.json").read_text())["csv_format"] == {
        "sep": ";", "header": False, "decimal": ".", "index_col": False}
    result = _eval(["--data", str(data), "--sep", "::", "--out", str(tmp_path / "e3")])
    assert result.exit_code == 2 and "--sep must be one character" in result.output


def test_eval_reads_decimal_commas_and_row_labels_when_told(tmp_path):
    data, original = tmp_path / "euro", _dataset("e", 0)
    write_csv_dataset(data, original)
    path = data / "e.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join((f"r{i};" if i else "id;") + line.replace(",", ";").replace(".", ",")
                              for i, line in enumerate(lines)) + "\n")
    result = _eval(["--data", str(data), "--out", str(tmp_path / "e1")])
    assert result.exit_code == 2 and "--index-col" in result.output and "Traceback" not in result.output
    result = _eval(["--data", str(data), "--decimal", ",", "--index-col", "--out", str(tmp_path / "e2")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "e2" / "eval.json").read_text())["csv_format"] == {
        "sep": None, "header": True, "decimal": ",", "index_col": True}
    (read,) = iter_datasets(data, CsvFormat(decimal=",", index_col=True))
    assert read.names == original.names
    np.testing.assert_array_equal(read.x, original.x)
