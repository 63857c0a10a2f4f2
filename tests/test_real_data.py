"""scripts/real_data.py: the cdt wheel's tables become CSV folders that `amort eval` scores."""
import zipfile
from pathlib import Path

import numpy as np

from simulators.storage.io import iter_datasets

def fake_wheel(path: Path) -> Path:
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, 40)
    b = a**3 + 0.05 * rng.normal(size=40)
    cyto = "praf,pmek,p44/42\n" + "\n".join(",".join(f"{v:.4f}" for v in row) for row in rng.normal(size=(30, 3)))
    files = {
        "cyto_full_data.csv": cyto + "\n",
        "cyto_full_target.csv": '"Cause","Effect"\n"praf","pmek"\n"pmek","p44/42"\n',
        "Tuebingen_pairs.csv": "SampleID,A,B\n" + f"pair1,{' '.join(map(str, a))},{' '.join(map(str, b))}\n"
                               + f"pair2,{' '.join(map(str, b))},{' '.join(map(str, a))}\n",
        "Tuebingen_targets.csv": "SampleID,Target\npair1,1.0\npair2,-1.0\n",
    }
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr("cdt/data/resources/" + name, text)
    return path


def test_tables_become_csv_folders_with_their_true_edges(tmp_path, script_module):
    script = script_module("real_data")
    with zipfile.ZipFile(fake_wheel(tmp_path / "cdt.whl")) as archive:
        script.write_sachs(archive, tmp_path / "sachs")
        assert script.write_tuebingen(archive, tmp_path / "tuebingen") == 2
    sachs = list(iter_datasets(tmp_path / "sachs"))
    assert len(sachs) == 1 and sachs[0].x.shape == (30, 3) and sachs[0].names == ["praf", "pmek", "p44/42"]
    assert sachs[0].graph.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    pairs = {ds.name: ds for ds in iter_datasets(tmp_path / "tuebingen")}
    assert sorted(pairs) == ["pair0001", "pair0002"]
    # pair1: A causes B; pair2 holds the same values with B causing A. Whatever order the columns
    # were written in, the edge names the cause.
    for name, cause in (("pair0001", "A"), ("pair0002", "B")):
        ds = pairs[name]
        assert sorted(ds.names) == ["A", "B"]
        i, j = ds.names.index(cause), 1 - ds.names.index(cause)
        assert ds.graph[i, j] == 1 and ds.graph[j, i] == 0
        np.testing.assert_allclose(ds.x[:, j], ds.x[:, i] ** 3, atol=0.3)  # effect = cause^3 + noise


def test_pairs_are_written_in_a_seeded_random_column_order(tmp_path, script_module):
    script = script_module("real_data")
    wheel = fake_wheel(tmp_path / "cdt.whl")
    firsts = set()
    for seed in range(8):
        with zipfile.ZipFile(wheel) as archive:
            script.write_tuebingen(archive, tmp_path / f"t{seed}", seed)
        firsts.add((tmp_path / f"t{seed}/pair0001.csv").read_text().splitlines()[0])
    assert firsts == {"A,B", "B,A"}
