"""Summary tables: bootstrap intervals, best-per-row marks, parseable outputs."""
import numpy as np
import pandas as pd

from causal_amort.evaluation.report import bootstrap_interval, summarize, to_latex, to_markdown, write_tables


def _results():
    rng = np.random.default_rng(1)
    rows = []
    for suite in ("s1", "s2"):
        for method, level in (("amort", 0.2), ("random", 0.5)):
            for i in range(8):
                rows.append({"suite": suite, "dataset": f"d{i}", "method": method, "status": "ok", "edges": 4,
                             "frac_reversed_min": 0.0, "frac_reversed_min_exact": True,
                             "frac_reversed": level + 0.05 * rng.normal(), "perfect": float(i == 0),
                             "shd": 3.0 + i, "f1": 0.5, "seconds": 0.01})
    rows.append({"suite": "s1", "dataset": "d9", "method": "random", "status": "timeout>1s", "edges": 4,
                 "frac_reversed_min": 0.0, "frac_reversed_min_exact": True,
                 "frac_reversed": np.nan, "perfect": np.nan, "shd": np.nan, "f1": np.nan, "seconds": np.nan})
    return pd.DataFrame(rows)


def test_bootstrap_interval_contains_mean():
    values = np.random.default_rng(0).exponential(size=40)
    iv = bootstrap_interval(values, np.random.default_rng(0))
    assert iv.low < iv.mean < iv.high
    assert iv.mean == values.mean() and iv.count == 40


def test_bootstrap_ignores_nan_and_handles_empty():
    iv = bootstrap_interval(np.array([1.0, np.nan, 3.0]), np.random.default_rng(0))
    assert iv.count == 2 and iv.mean == 2.0
    assert np.isnan(bootstrap_interval(np.array([np.nan]), np.random.default_rng(0)).mean)


def test_a_methods_interval_does_not_depend_on_the_methods_beside_it():
    results = _results()
    alone = summarize(results[results.method == "amort"])
    together = summarize(results)
    pd.testing.assert_frame_equal(alone.reset_index(drop=True),
                                  together[together.method == "amort"].reset_index(drop=True))


def test_summary_counts_skipped_and_marks_best(tmp_path):
    results = _results()
    summary = summarize(results)
    fr = summary[(summary.metric == "frac_reversed") & (summary.suite == "s1")].set_index("method")
    assert fr.loc["random", "skipped"] == 1 and fr.loc["random", "count"] == 8
    md = to_markdown(summary)
    assert "**0.2" in md  # amort is best on frac_reversed, marked in bold
    assert "(1 skipped)" in md
    tex = to_latex(summary)
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 5
    curves = pd.DataFrame({"suite": ["s1"] * 4, "method": ["amort"] * 2 + ["random"] * 2,
                           "kind": ["model"] * 2 + ["baseline"] * 2, "n_seen": [100, 200, 100, 200],
                           "frac_reversed": [0.3, 0.2, 0.5, 0.5]})
    write_tables(results, curves, tmp_path)
    assert (tmp_path / "summary.md").read_text().startswith("# Evaluation summary")
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_fastest_is_marked_among_methods_that_read_the_data():
    from causal_amort.evaluation.report import metric_table

    results = _results()
    results.loc[results.method == "random", "seconds"] = 0.0001  # an order drawn without reading
    header, body, best = metric_table(summarize(results), "seconds")
    assert best == [{header.index("amort")}] * 2


def test_paired_comparison_counts_wins_and_tests_them(tmp_path):
    from causal_amort.evaluation.report import paired_comparison

    results = _results()
    paired = paired_comparison(results).set_index(["suite", "method", "other"])
    # amort (~0.2) reverses fewer edges than random (~0.5) on every dataset both scored.
    assert paired.loc[("s1", "amort", "random"), "share"] == 1.0
    assert paired.loc[("s1", "random", "amort"), "share"] == 0.0
    assert paired.loc[("s1", "amort", "random"), "count"] == 8  # random's timed-out dataset is left out
    assert paired.loc[("s1", "amort", "random"), "p"] < 0.01
    write_tables(results, pd.DataFrame(columns=["suite", "method", "kind", "n_seen", "frac_reversed"]), tmp_path)
    assert "## paired comparison (frac_reversed)" in (tmp_path / "summary.md").read_text()
    assert len(pd.read_csv(tmp_path / "paired.csv")) == 4


def test_tables_give_the_number_of_datasets_per_suite():
    summary = summarize(_results())
    md, tex = to_markdown(summary), to_latex(summary)
    assert "| suite | datasets | amort | random |" in md
    assert "| s1 | 9 |" in md and "| s2 | 8 |" in md  # s1 has a ninth dataset, on which random timed out
    assert "s1 & 9 &" in tex
