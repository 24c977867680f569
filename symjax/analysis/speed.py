"""Time to target across the whole loss range, and as censored data: the speed tables behind question 2.

Data-flow stage: store -> **analysis** -> report (``symjax.report.speed`` words and plots them).

- ``loss_range_table``: per (setting, scheme, fraction of the reference's loss drop), the ratio of median
  steps to that loss (scheme / reference, seeds paired, BCa CI): one target hides a gap that closes or opens.
- ``censored_table``: per (setting, scheme), the Kaplan–Meier view of steps to the early target (censored at
  the horizon): the fraction that reaches it with a Wilson interval, the restricted mean time to target (RMST)
  with its CI and its paired ratio to the reference's, and the log interval as a fraction of the reference's
  time.
- ``matched_table``: per question pair with a random bias of scale σ, the split of its gap into the cost of
  zero W (against ``lecun_normal/normal(σ)``, the matched-bias control) and the cost of the bias (control /
  reference).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from symjax.analysis import survival
from symjax.analysis.tables import censored, compare, runs_by_setting
from symjax.core.schemes import parse_scheme

MATCHED_WEIGHT = "lecun_normal"  # the random W of the matched-bias control lecun_normal/<the scheme's bias>


def log_interval(curves: pd.DataFrame) -> float:
    """The log interval of a curves table: the most common gap between consecutive logged steps (NaN if
    none)."""
    steps = np.unique(curves["step"].to_numpy())
    gaps = np.diff(steps)
    if not len(gaps):
        return float("nan")
    values, counts = np.unique(gaps, return_counts=True)
    return float(values[counts.argmax()])


def _losses(curves: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """run_id x step training losses of ``runs`` (diverged runs: +inf everywhere)."""
    table = curves[curves["run_id"].isin(runs["run_id"])].pivot(
        index="run_id", columns="step", values="train_loss"
    )
    table = table.reindex(runs["run_id"])
    diverged = runs.set_index("run_id")["diverged"].reindex(table.index).to_numpy(bool)
    return pd.DataFrame(
        np.where(diverged[:, None], np.inf, table.to_numpy(np.float64)),
        index=table.index,
        columns=table.columns,
    )


def _paired(own: pd.DataFrame, ref: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The runs of both sides whose seed both have, each sorted by seed."""
    seeds = np.intersect1d(own["seed"], ref["seed"])
    return tuple(r[r["seed"].isin(seeds)].sort_values("seed") for r in (own, ref))


def loss_range_table(
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    schemes: list[str],
    reference: str,
    by: list[str],
    fractions=survival.LOSS_DROP_FRACTIONS,
) -> pd.DataFrame:
    """Per (setting, scheme other than the reference, fraction): ``by`` columns, ``scheme``, ``fraction``,
    ``target``
    (the training loss at which the reference's median curve has made that fraction of its drop from step 0 to
    its last step), ``ratio`` (median steps to it, scheme / reference, never reached = ∞) with its paired CI
    (``lo``, ``hi``), and ``reached`` (the scheme's share of runs that get there)."""
    losses = _losses(curves, runs)
    steps = losses.columns.to_numpy(np.float64)
    rows = []
    for key, scheme, own, ref in runs_by_setting(runs, schemes, reference, by):
        if ref is None or scheme == reference or not len(steps):
            continue
        a, b = _paired(own, ref)
        reference_curve = np.median(losses.loc[b["run_id"]].to_numpy(np.float64), axis=0)
        if not np.isfinite(reference_curve[[0, -1]]).all():
            continue  # most reference runs diverged: no loss drop to measure against
        targets = survival.loss_drop_targets(reference_curve[0], reference_curve[-1], fractions)
        times = [
            survival.first_reach(losses.loc[r["run_id"]].to_numpy(np.float64), steps, targets) for r in (a, b)
        ]
        for q, (fraction, target) in enumerate(zip(fractions, targets)):
            ratio = survival.paired_bca_ci(times[0][:, q], times[1][:, q], np.median, np.divide)
            rows.append(
                dict(
                    zip(by, key),
                    scheme=scheme,
                    fraction=fraction,
                    target=float(target),
                    ratio=ratio[0],
                    lo=ratio[1],
                    hi=ratio[2],
                    reached=float(np.isfinite(times[0][:, q]).mean()),
                )
            )
    return pd.DataFrame(rows, columns=[*by, "scheme", "fraction", "target", "ratio", "lo", "hi", "reached"])


CENSORED_COLUMNS = [
    "reached",
    "reached_lo",
    "reached_hi",
    "rmst",
    "rmst_lo",
    "rmst_hi",
    "rmst_ratio",
    "rmst_ratio_lo",
    "rmst_ratio_hi",
    "hl_ratio",
    "hl_lo",
    "hl_hi",
    "hl_pairs",
    "resolution",
]


def censored_table(
    runs: pd.DataFrame, schemes: list[str], reference: str, by: list[str], log_every: float
) -> pd.DataFrame:
    """Per (setting, scheme): ``by`` columns, ``scheme`` and CENSORED_COLUMNS, for steps to the early target
    (``steps_to_target``, censored at the run's last step ``steps``): Wilson interval of the share reaching
    it, RMST with BCa CI, RMST ratio to the reference (paired BCa), the Hodges–Lehmann median of per-seed log
    ratios over pairs that both reach it (with its order-statistic CI and the number of such pairs), and the
    resolution (``log_every`` / the reference's median steps to target)."""
    rows = []
    for key, scheme, own, ref in runs_by_setting(runs, schemes, reference, by):
        horizon = float(own["steps"].iloc[0])
        times = censored(own, "steps_to_target")
        row = dict(zip(by, key), scheme=scheme, **dict.fromkeys(CENSORED_COLUMNS, np.nan))
        row.update(zip(["reached", "reached_lo", "reached_hi"], survival.reached_ci(np.isfinite(times))))
        row.update(zip(["rmst", "rmst_lo", "rmst_hi"], survival.rmst_ci(times, horizon)))
        if ref is not None:
            a, b = _paired(own, ref)
            ta, tb = censored(a, "steps_to_target"), censored(b, "steps_to_target")
            row["resolution"] = survival.resolution(log_every, censored(ref, "steps_to_target"))
            if scheme != reference:
                row.update(
                    zip(
                        ["rmst_ratio", "rmst_ratio_lo", "rmst_ratio_hi"],
                        survival.paired_rmst_ratio_ci(ta, tb, horizon),
                    )
                )
                row.update(zip(["hl_ratio", "hl_lo", "hl_hi", "hl_pairs"], survival.hodges_lehmann(ta, tb)))
        rows.append(row)
    return pd.DataFrame(rows, columns=[*by, "scheme", *CENSORED_COLUMNS])


def matched_control(scheme: str) -> str | None:
    """The matched-bias control of a zero- or constant-W scheme with a random bias: the same bias with
    ``lecun_normal`` W; None for any other scheme (or one with per-layer overrides).

    >>> (matched_control("zeros/normal(1.0)"), matched_control("constant(0.05)/normal(0.1)"),
    ...  matched_control("zeros/zeros"))
    ('lecun_normal/normal(1.0)', 'lecun_normal/normal(0.1)', None)
    """
    parsed = parse_scheme(scheme)
    if parsed.overrides or parsed.weight not in ("zeros", "constant") or parsed.bias in ("zeros", "constant"):
        return None
    return f"{MATCHED_WEIGHT}/{scheme.split('/', 1)[1]}"


MATCHED_COLUMNS = [
    "control",
    "total",
    "total_lo",
    "total_hi",
    "zero_w",
    "zero_w_lo",
    "zero_w_hi",
    "bias",
    "bias_lo",
    "bias_hi",
    "zero_w_loss",
    "zero_w_loss_lo",
    "zero_w_loss_hi",
    "bias_loss",
    "bias_loss_lo",
    "bias_loss_hi",
]


def matched_table(runs: pd.DataFrame, schemes: list[str], reference: str, by: list[str]) -> pd.DataFrame:
    """Per (setting, question scheme whose matched control trained in the same setting): ``by`` columns,
    ``scheme``
    and MATCHED_COLUMNS: ``total`` (scheme / reference), ``zero_w`` (scheme / control) and ``bias`` (control /
    reference) ratios of median steps to target with paired CIs, and the final-loss differences that split the
    same way (``zero_w_loss``: scheme − control, ``bias_loss``: control − reference). Empty without matched
    controls."""
    rows = []
    by_setting = {
        key: {s: r.sort_values("seed") for s, r in setting.groupby("scheme", sort=False)}
        for key, setting in runs.groupby(list(by), sort=False)
    }
    for key, setting in by_setting.items():
        ref = setting.get(reference)
        for scheme in [s for s in schemes if s in setting]:
            control = matched_control(scheme)
            if ref is None or control is None or control not in setting or control == scheme:
                continue
            total, zero_w, bias = (
                compare(setting[scheme], ref),
                compare(setting[scheme], setting[control]),
                compare(setting[control], ref),
            )
            row = dict(zip(by, key if isinstance(key, tuple) else (key,)), scheme=scheme, control=control)
            for name, c in (("total", total), ("zero_w", zero_w), ("bias", bias)):
                row.update({name: c["speed_ratio"], f"{name}_lo": c["speed_lo"], f"{name}_hi": c["speed_hi"]})
            for name, c in (("zero_w_loss", zero_w), ("bias_loss", bias)):
                row.update(
                    {name: c["loss_diff"], f"{name}_lo": c["loss_diff_lo"], f"{name}_hi": c["loss_diff_hi"]}
                )
            rows.append(row)
    return pd.DataFrame(rows, columns=[*by, "scheme", *MATCHED_COLUMNS])
