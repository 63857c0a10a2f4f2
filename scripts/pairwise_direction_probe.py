"""How often the pairwise LiNGAM measures point along a true edge, on robust z-scores and on the
soft-clipped values the model's sums read: does the clip cost the linear cues their direction?

    python scripts/pairwise_direction_probe.py notears-linear-gumbel-ER2 notears-linear-exp-SF2 --seed 77

For each true edge i -> j of 16 SCMs of each external suite (simulators/external, d = 20, n = 2000;
choose a seed that no report or rule uses), the likelihood-ratio measures of Hyvarinen & Smith
(2013) in their skew form, rho E[u_i^2 u_j - u_i u_j^2] sign(skew_i), and cumulant form, rho E[u_i^3
u_j - u_i u_j^3] sign(excess kurtosis_i), are positive when they point from i to j. Printed: the
share of edges they get right, on the z-scores under the model's robust standardization and on
its soft clip s of them (`sufficient.basis_features`, feature "s"). A probe: it changes nothing.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from simulators.external.suites import SUITES, external_dataset
from causal_amort.model.sufficient import BASIS, basis_features, robust_center_scale


def pairwise_measures(v: np.ndarray) -> dict[str, np.ndarray]:
    """(d, d) skew and cumulant measures of the columns of ``v`` (n, d); [i, j] > 0 reads i -> j."""
    u = (v - v.mean(axis=0)) / v.std(axis=0)
    n = len(u)
    rho = u.T @ u / n
    m21, m31 = (u**2).T @ u / n, (u**3).T @ u / n  # [i, j] = E[u_i^2 u_j], E[u_i^3 u_j]
    skew, kurt = (u**3).mean(axis=0), (u**4).mean(axis=0) - 3.0
    return {"skew": rho * (m21 - m21.T) * np.sign(skew)[:, None],
            "cumulant": rho * (m31 - m31.T) * np.sign(kurt)[:, None]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suites", nargs="+", choices=list(SUITES), metavar="SUITE")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--num", type=int, default=16)
    args = parser.parse_args()
    print(f"{'suite':>28} {'values':>8} {'skew':>6} {'cumulant':>9}   (share of true edges pointed the right way)")
    for suite in args.suites:
        right: dict[tuple[str, str], list[np.ndarray]] = {}
        for i in range(args.num):
            ds = external_dataset(suite, i, 20, 2000, args.seed)
            x = torch.from_numpy(ds.x)[None]
            center, scale = robust_center_scale(x)
            z = ((x.double() - center) / scale)[0].numpy()
            s = basis_features(x, center, scale, derivatives=False)[0][0, BASIS.index("s")].T.double().numpy()
            causes, effects = np.nonzero(ds.graph)
            for values, v in (("z", z), ("clipped", s)):
                for name, measure in pairwise_measures(v).items():
                    right.setdefault((values, name), []).append(measure[causes, effects] > 0)
        for values in ("z", "clipped"):
            shares = [np.concatenate(right[values, name]).mean() for name in ("skew", "cumulant")]
            print(f"{suite:>28} {values:>8} {shares[0]:>6.3f} {shares[1]:>9.3f}")


if __name__ == "__main__":
    main()
