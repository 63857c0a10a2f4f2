"""scripts/selection_score.py: the held-out score of rules v16 to v19 from evaluation folders."""
import pandas as pd
import pytest


def write_results(folder, rows):
    folder.mkdir()
    pd.DataFrame(rows, columns=["suite", "method", "status", "frac_reversed"]).to_csv(folder / "results.csv", index=False)


def test_the_score_is_half_the_single_factor_mean_plus_half_the_compound_mean(tmp_path, script_module):
    module = script_module("selection_score")
    # Model "a" reverses 0.1 on every single-factor suite but 0.4 on select-noise, 0.3 on select-out;
    # a failed row must not count. Two folders, as v6's numbers and a candidate's come from different runs.
    single = [(s, "a", "ok", 0.4 if "noise" in s else 0.1) for s in module.SINGLE]
    write_results(tmp_path / "one", single + [("select-graph-d20", "a", "failed", 0.9)])
    write_results(tmp_path / "two", [(s, "a", "ok", 0.3) for s in module.COMPOUND] + [("x", "b", "ok", 0.0)])
    table = module.selection_table([tmp_path / "one", tmp_path / "two"], ["a"])
    assert table.loc["single-factor mean (8)", "a"] == pytest.approx((6 * 0.1 + 2 * 0.4) / 8)
    assert table.loc["held-out score", "a"] == pytest.approx(0.5 * (1.4 / 8) + 0.5 * 0.3)
    assert table.loc["score without select-noise", "a"] == pytest.approx(0.5 * 0.1 + 0.5 * 0.3)


def test_a_missing_suite_is_named(tmp_path, script_module):
    module = script_module("selection_score")
    write_results(tmp_path / "one", [(s, "a", "ok", 0.1) for s in module.SINGLE])
    with pytest.raises(SystemExit, match="select-out-d20"):
        module.selection_table([tmp_path / "one"], ["a"])


def test_paired_counts_each_suites_wins_and_losses_and_tests_the_mean(tmp_path, script_module):
    module = script_module("selection_score")
    suites = module.SINGLE + module.COMPOUND
    # b is better than a on 8 datasets of every held-out suite and worse on none; one tie.
    rows = [(s, m, "ok", value, f"{s}-{k}") for s in suites for k in range(9)
            for m, value in (("a", 0.3), ("b", 0.3 if k == 8 else 0.1))]
    folder = tmp_path / "one"
    folder.mkdir()
    pd.DataFrame(rows, columns=["suite", "method", "status", "frac_reversed", "dataset"]).to_csv(folder / "results.csv",
                                                                                             index=False)
    by_suite, p = module.paired([folder], "a", "b")
    assert (by_suite.datasets == 9).all() and (by_suite.better == 8).all() and (by_suite.worse == 0).all()
    assert by_suite.mean_difference.to_numpy() == pytest.approx([-0.2 * 8 / 9] * len(suites))
    assert p < 0.001
    _, p_same = module.paired([folder], "a", "a")
    assert p_same == 1.0


def test_recipes_are_compared_with_the_run_as_the_unit(script_module):
    module = script_module("selection_score")
    scores = pd.Series({"a1": 0.124, "a2": 0.123, "a3": 0.125, "b1": 0.107, "b2": 0.114, "b3": 0.110})
    result = module.recipes(scores, ["a1", "a2", "a3"], ["b1", "b2", "b3"])
    mean_b = (0.107 + 0.114 + 0.110) / 3
    assert result["mean A"] == pytest.approx(0.124) and result["mean B"] == pytest.approx(mean_b)
    assert result["sd A"] == pytest.approx(0.001) and result["seeds where B is lower"] == 3
    assert result["gain of B"] == pytest.approx(1 - mean_b / 0.124)
    assert result["Welch p, B below A"] < 0.01
    # The other way round the one-sided test finds nothing, and one seed the other way is counted.
    assert module.recipes(scores, ["b1", "b2", "b3"], ["a1", "a2", "a3"])["Welch p, B below A"] > 0.99
    scores["b3"] = 0.130
    assert module.recipes(scores, ["a1", "a2", "a3"], ["b1", "b2", "b3"])["seeds where B is lower"] == 2
    # Unequal numbers of runs (rule v35: three against two): no seed-by-seed count, the rest as before.
    two = module.recipes(scores, ["a1", "a2", "a3"], ["b1", "b2"])
    assert "seeds where B is lower" not in two and two["runs of B below mean A"] == 2
    # Welch by hand: t = (0.1105 - 0.124) / sqrt(2.45e-5 / 2 + 1e-6 / 3) = -3.81 on 1.05 degrees of freedom.
    assert two["mean B"] == pytest.approx(0.1105) and two["Welch p, B below A"] == pytest.approx(0.077, abs=0.002)
    scores["b2"] = 0.1245
    assert module.recipes(scores, ["a1", "a2", "a3"], ["b1", "b2"])["runs of B below mean A"] == 1
    with pytest.raises(SystemExit, match="at least two"):
        module.recipes(scores, ["a1", "a2"], ["b1"])
