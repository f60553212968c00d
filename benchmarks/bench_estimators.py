"""Estimator benchmarks: speed against the Open Bandit Pipeline, and the Coat figures.

    .venv/bin/python benchmarks/bench_estimators.py speed   # IPS/SNIPS/DR, 10M rows x 10 actions
    .venv/bin/python benchmarks/bench_estimators.py speed-embed-slate   # MIPS; slate estimators
    .venv/bin/python benchmarks/bench_estimators.py coat    # Coat: error estimators, MF-IPS, Rel-MF
    .venv/bin/python benchmarks/bench_estimators.py all

``speed`` needs obp 0.5.7 in the venv (benchmark only, never a runtime dependency):
``.venv/bin/pip install --no-deps --ignore-requires-python obp==0.5.7`` and then
``.venv/bin/pip install "pandas<3" scikit-learn seaborn pyyaml mypy-extensions``.
Timings are medians of repeated calls, ours and obp's interleaved in the same process on the same
arrays. Output is markdown for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

from recoworld.datasets.coat import load_coat
from recoworld.estimators.feed_logs import SlateLog
from recoworld.estimators.logged_data import BanditLog
from recoworld.estimators.mnar import (
    MFConfig,
    popularity_propensity,
    ranking_metrics,
    train_implicit_mf,
    train_rating_mf,
)
from recoworld.estimators.ope_bandit import (
    DoublyRobust,
    InverseProbabilityWeighting,
    SelfNormalizedInverseProbabilityWeighting,
)
from recoworld.estimators.ope_embed import MarginalizedInverseProbabilityWeighting
from recoworld.estimators.ope_slate import (
    SlateActionDist,
    SlateCascadeDoublyRobust,
    SlateIndependentIPS,
    SlateRewardInteractionIPS,
    SlateStandardIPS,
)
from recoworld.estimators.rating_error import (
    estimate_rating_error,
    logistic_propensity,
    naive_bayes_propensity,
    naive_error,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REPEATS = 5


def _median_time(fn, repeats: int = REPEATS) -> tuple[float, float]:
    times, value = [], float("nan")
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def speed(n: int = 10_000_000, k: int = 10) -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(n, k))
    pb = np.exp(logits)
    pb /= pb.sum(axis=1, keepdims=True)
    action = (pb.cumsum(axis=1) > rng.random(n)[:, None]).argmax(axis=1)
    pscore = pb[np.arange(n), action]
    del pb
    reward = rng.binomial(1, 0.3, n).astype(np.float64)
    pe = np.exp(-logits)
    pe /= pe.sum(axis=1, keepdims=True)
    del logits
    q = rng.random((n, k))
    build, log = _median_time(lambda: BanditLog.from_arrays(action, reward, pscore, k), 3)
    ours = {
        "IPS": lambda: InverseProbabilityWeighting().estimate_policy_value(log, pe),
        "SNIPS": lambda: SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(log, pe),
        "DR": lambda: DoublyRobust().estimate_policy_value(log, pe, q),
    }
    try:
        import obp  # noqa: F401
        from obp.ope import DoublyRobust as ObpDR
        from obp.ope import InverseProbabilityWeighting as ObpIPW
        from obp.ope import SelfNormalizedInverseProbabilityWeighting as ObpSNIPW
    except Exception as exc:  # report why, do not hide it
        print(f"obp could not be imported: {type(exc).__name__}: {exc}")
        theirs = {}
    else:
        pe3, q3, pos = pe[:, :, None], q[:, :, None], np.zeros(n, dtype=np.int64)
        common = {"reward": reward, "action": action, "pscore": pscore, "action_dist": pe3,
                  "position": pos}
        theirs = {
            "IPS": lambda: ObpIPW().estimate_policy_value(**common),
            "SNIPS": lambda: ObpSNIPW().estimate_policy_value(**common),
            "DR": lambda: ObpDR().estimate_policy_value(estimated_rewards_by_reg_model=q3,
                                                        **common),
        }
    print(f"\n### Speed: {n:,} logged rows x {k} actions (median of {REPEATS} calls)\n")
    print(f"BanditLog.from_arrays (validation + polars frame, once per log): {build:.3f} s\n")
    print("| estimator | recoworld (s) | obp 0.5.7 (s) | speed-up | same value |")
    print("|---|---|---|---|---|")
    for name, fn in ours.items():
        t_ours, v_ours = _median_time(fn)
        if name in theirs:
            t_obp, v_obp = _median_time(theirs[name])
            same = abs(v_ours - v_obp) <= 1e-9 * max(1.0, abs(v_obp))
            print(f"| {name} | {t_ours:.3f} | {t_obp:.3f} | {t_obp / t_ours:.1f}x | {same} |")
        else:
            print(f"| {name} | {t_ours:.3f} | n/a | n/a | n/a |")


def _relmf_epoch() -> None:
    coat = load_coat(DATA)
    clicks = (coat.train >= 4).astype(np.float64)
    theta = popularity_propensity(clicks, 0.5)
    cfg = MFConfig(dim=20, epochs=10, lr=0.01, l2=1e-3, batch_size=4096, seed=0)
    fit = train_implicit_mf(clicks, theta, "unbiased", cfg)
    print(f"\nOne Rel-MF epoch on Coat (87,000 user-item pairs, dim 20, batch 4096, 1 thread): "
          f"median {statistics.median(fit.epoch_seconds) * 1e3:.0f} ms over "
          f"{len(fit.epoch_seconds)} epochs")


def _split_train(ratings: np.ndarray, frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    obs = np.argwhere(ratings > 0)
    val_mask = rng.random(obs.shape[0]) < frac
    train, val = ratings.copy(), np.zeros_like(ratings)
    vu, vi = obs[val_mask].T
    val[vu, vi] = ratings[vu, vi]
    train[vu, vi] = 0
    return train, val


def _select_rating_mf(coat, weighted: bool, grid, seed: int) -> MFConfig:
    """Pick (dim, l2) on a 10 % validation split of the MNAR train set.

    MF-Naive is scored by naive validation MSE, MF-IPS by SNIPS validation MSE with the shipped
    propensities (Schnabel et al. select by the propensity-weighted estimate too).
    """
    train, val = _split_train(coat.train, 0.1, seed)
    best, best_cfg = np.inf, grid[0]
    for cfg in grid:
        fit = train_rating_mf(train, 1.0 / coat.propensities if weighted else None, cfg)
        pred = np.clip(fit.scores(), 1, 5)
        est = estimate_rating_error(pred, val, coat.propensities, "mse")
        score = est.snips if weighted else est.naive
        if score < best:
            best, best_cfg = score, cfg
    return best_cfg


def _propensity_models(coat, mf_cfg: MFConfig, seeds: int) -> None:
    """Our propensity models against the shipped ones, on the same estimators and MF-IPS.

    Naive Bayes needs a small MCAR sample: 4 of each user's 16 test ratings (seeded); every
    MCAR reference in this table is then the remaining 12 per user, so no rating is used twice.
    """
    train, test = coat.train.astype(np.float64), coat.test.astype(np.float64)
    rng = np.random.default_rng(0)
    sample = np.zeros_like(test)
    for u in range(test.shape[0]):  # 290 users, once: choose each user's 4 sampled test items
        items = rng.choice(np.flatnonzero(test[u]), 4, replace=False)
        sample[u, items] = test[u, items]
    held_out = np.where(sample > 0, 0.0, test)
    start = time.perf_counter()
    logistic = logistic_propensity(coat.user_features, coat.item_features, train > 0, l2=10.0)
    fit_s = time.perf_counter() - start
    bayes = naive_bayes_propensity(train, sample)
    corr = np.corrcoef(np.log(logistic).ravel(), np.log(coat.propensities).ravel())[0, 1]
    models = {"shipped": coat.propensities, "logistic (ours)": logistic,
              "naive Bayes (ours)": np.where(train > 0, bayes, 1.0)}
    observed = train > 0
    item_mean = (train * observed).sum(axis=0) / np.maximum(observed.sum(axis=0), 1)
    preds = {"always 3": np.full(train.shape, 3.0),
             "item mean (MNAR)": np.tile(item_mean, (train.shape[0], 1))}
    print("\n### Coat: propensity models (MSE; MCAR reference = 12 held-out test ratings per "
          "user)\n")
    print("| predictor | naive | " + " | ".join(f"IPS / SNIPS, {m}" for m in models)
          + " | MCAR (held out) |")
    print("|---|---|" + "---|" * len(models) + "---|")
    for name, pred in preds.items():
        cells = []
        naive = 0.0
        for prop in models.values():
            est = estimate_rating_error(pred, train, prop, "mse")
            naive = est.naive
            cells.append(f"{est.ips:.3f} / {est.snips:.3f}")
        print(f"| {name} | {naive:.3f} | " + " | ".join(cells)
              + f" | {naive_error(pred, held_out, 'mse'):.3f} |")
    print("\n| MF trained with | MCAR (held out) MSE |")
    print("|---|---|")
    plain = [naive_error(np.clip(train_rating_mf(train, None, MFConfig(
        **{**mf_cfg.__dict__, "seed": s})).scores(), 1, 5), held_out, "mse") for s in range(seeds)]
    print(f"| no weights (MF-Naive) | {np.mean(plain):.3f} ± {np.std(plain):.3f} |")
    for label, prop in models.items():
        vals = [naive_error(np.clip(train_rating_mf(train, 1.0 / prop, MFConfig(
            **{**mf_cfg.__dict__, "seed": s})).scores(), 1, 5), held_out, "mse")
            for s in range(seeds)]
        print(f"| 1 / {label} propensity (MF-IPS) | {np.mean(vals):.3f} ± {np.std(vals):.3f} |")
    print(f"\nLogistic regression on all user x item covariate pairs (l2 = 10, L-BFGS, "
          f"{fit_s:.0f} s): correlation of log-propensities with the shipped ones r = {corr:.3f}. "
          f"MF config: dim {mf_cfg.dim}, l2 {mf_cfg.l2}; mean ± std over {seeds} seeds.")


def coat_figures(seeds: int = 5) -> None:
    coat = load_coat(DATA)
    train, test = coat.train.astype(np.float64), coat.test.astype(np.float64)
    observed = train > 0
    mu = float(train[observed].mean())
    item_mean = np.where(observed.sum(axis=0) > 0,
                         (train * observed).sum(axis=0) / np.maximum(observed.sum(axis=0), 1), mu)
    user_mean = (train * observed).sum(axis=1) / observed.sum(axis=1)

    # --- MF-Naive vs MF-IPS ----------------------------------------------------------------
    grid = [MFConfig(dim=d, epochs=50, lr=0.01, l2=l2, batch_size=1024, seed=0)
            for d in (10, 20) for l2 in (0.1, 0.2, 0.3, 0.5, 1.0)]
    chosen = {w: _select_rating_mf(coat, w, grid, seed=0) for w in (False, True)}
    mse: dict[bool, list[float]] = {False: [], True: []}
    mae: dict[bool, list[float]] = {False: [], True: []}
    last_pred: dict[bool, np.ndarray] = {}
    for weighted, cfg in chosen.items():
        for s in range(seeds):
            fit = train_rating_mf(train, 1.0 / coat.propensities if weighted else None,
                                  MFConfig(**{**cfg.__dict__, "seed": s}))
            pred = np.clip(fit.scores(), 1, 5)
            mse[weighted].append(naive_error(pred, test, "mse"))
            mae[weighted].append(naive_error(pred, test, "mae"))
            last_pred[weighted] = pred

    # --- error estimators on given predictors ----------------------------------------------
    predictors = {
        "always 3": np.full(train.shape, 3.0),
        "always 1": np.full(train.shape, 1.0),
        "global mean (MNAR)": np.full(train.shape, mu),
        "item mean (MNAR)": np.tile(item_mean, (train.shape[0], 1)),
        "user mean (MNAR)": np.tile(user_mean[:, None], (1, train.shape[1])),
        "MF-Naive": last_pred[False],
        "MF-IPS": last_pred[True],
    }
    print("\n### Coat: error of given predictors, estimated on the MNAR train set (shipped "
          "propensities) vs their error on the MCAR test set\n")
    print("| predictor | metric | naive | IPS | SNIPS | MCAR test |")
    print("|---|---|---|---|---|---|")
    closer = {"IPS": 0, "SNIPS": 0}
    total = 0
    for name, pred in predictors.items():
        for metric in ("mse", "mae"):
            est = estimate_rating_error(pred, train, coat.propensities, metric)  # type: ignore[arg-type]
            ref = naive_error(pred, test, metric)  # type: ignore[arg-type]
            total += 1
            closer["IPS"] += abs(est.ips - ref) < abs(est.naive - ref)
            closer["SNIPS"] += abs(est.snips - ref) < abs(est.naive - ref)
            print(f"| {name} | {metric.upper()} | {est.naive:.3f} | {est.ips:.3f} | "
                  f"{est.snips:.3f} | {ref:.3f} |")
    print(f"\nIPS is closer to the MCAR-test error than naive in {closer['IPS']}/{total} rows, "
          f"SNIPS in {closer['SNIPS']}/{total}. (MF-Naive / MF-IPS rows are in-sample on train.)")

    print("\n### Coat: MF-Naive vs MF-IPS (trained on the MNAR train set), MCAR-test error\n")
    print("| model | selected (dim, l2) | MCAR-test MSE | MCAR-test MAE | Schnabel et al. MSE |")
    print("|---|---|---|---|---|")
    for weighted, label, paper in ((False, "MF-Naive", "1.202"), (True, "MF-IPS", "1.093")):
        cfg = chosen[weighted]
        print(f"| {label} | ({cfg.dim}, {cfg.l2}) | {np.mean(mse[weighted]):.3f} ± "
              f"{np.std(mse[weighted]):.3f} | {np.mean(mae[weighted]):.3f} ± "
              f"{np.std(mae[weighted]):.3f} | {paper} |")
    print(f"\nmean ± std over {seeds} initialisation seeds; (dim, l2) chosen on a 10 % split of "
          "the train set (naive validation MSE for MF-Naive, SNIPS validation MSE for MF-IPS).")

    _propensity_models(coat, chosen[True], seeds)

    # --- Rel-MF ----------------------------------------------------------------------------
    clicks = (train >= 4).astype(np.float64)
    theta = popularity_propensity(clicks, 0.5)
    rows = {}
    for kind in ("naive", "unbiased", "clipped"):
        vals = []
        for s in range(seeds):
            cfg = MFConfig(dim=20, epochs=30, lr=0.01, l2=1e-3, batch_size=4096, seed=s)
            fit = train_implicit_mf(clicks, None if kind == "naive" else theta, kind, cfg,  # type: ignore[arg-type]
                                    clip=0.2)
            m5 = ranking_metrics(fit.scores(), test, k=5)
            m3 = ranking_metrics(fit.scores(), test, k=3)
            vals.append((m5.dcg, m5.recall, m5.map, m3.dcg))
        rows[kind] = np.asarray(vals)
    print("\n### Coat: Rel-MF vs naive MF (implicit: relevant = rating >= 4), MCAR test\n")
    print("| loss | DCG@5 | Recall@5 | MAP@5 | DCG@3 |")
    print("|---|---|---|---|---|")
    labels = {"naive": "naive MF", "unbiased": "Rel-MF (unbiased)",
              "clipped": "Rel-MF (clipped, M=0.2)"}
    for kind, vals in rows.items():
        cells = " | ".join(f"{vals[:, j].mean():.4f} ± {vals[:, j].std():.4f}" for j in range(4))
        print(f"| {labels[kind]} | {cells} |")
    print(f"\nmean ± std over {seeds} seeds; dim 20, Adam lr 0.01, l2 1e-3, 30 epochs, batch "
          "4096; propensity (n_i / max n)^0.5 from train clicks; users with a relevant test item "
          f"({ranking_metrics(np.zeros(train.shape), test, 5).n_users}) averaged; no tuning.")
    _relmf_selected(coat, seeds)
    _relmf_epoch()


def _relmf_selected(coat, seeds: int) -> None:
    """Rel-MF and naive MF, each with (dim, l2) selected on held-out self-selected ratings.

    10 % of the observed train ratings are held out; every loss is scored there by the
    inverse-propensity DCG@5 (Saito et al.'s unbiased validation), and its best setting is
    retrained on the full train set. Pure inner-product MF (no bias terms), as in Rel-MF's code.
    """
    train90, val = _split_train(coat.train.astype(np.float64), 0.1, seed=0)
    clicks90 = (train90 >= 4).astype(np.float64)
    theta90 = popularity_propensity(clicks90, 0.5)
    clicks = (coat.train >= 4).astype(np.float64)
    theta = popularity_propensity(clicks, 0.5)
    grid = [(d, l2) for d in (20, 50) for l2 in (1e-4, 1e-3, 1e-2, 1e-1)]
    print("\n### Coat: Rel-MF vs naive MF, (dim, l2) selected per loss on held-out train "
          "ratings (IPS DCG@5), MCAR test\n")
    print("| loss | selected (dim, l2) | DCG@5 | Recall@5 | MAP@5 |")
    print("|---|---|---|---|---|")
    labels = {"naive": "naive MF", "unbiased": "Rel-MF (unbiased)",
              "clipped": "Rel-MF (clipped, M=0.1)"}
    for kind in ("naive", "unbiased", "clipped"):
        best, best_cfg = -np.inf, grid[0]
        for dim, l2 in grid:
            cfg = MFConfig(dim=dim, epochs=30, lr=0.01, l2=l2, batch_size=4096, seed=0,
                           biases=False)
            fit = train_implicit_mf(clicks90, None if kind == "naive" else theta90,
                                    kind, cfg, clip=0.1)  # type: ignore[arg-type]
            score = ranking_metrics(fit.scores(), val, 5, propensity=theta90).dcg
            if score > best:
                best, best_cfg = score, (dim, l2)
        vals = []
        for s in range(seeds):
            cfg = MFConfig(dim=best_cfg[0], epochs=30, lr=0.01, l2=best_cfg[1], batch_size=4096,
                           seed=s, biases=False)
            fit = train_implicit_mf(clicks, None if kind == "naive" else theta, kind, cfg,
                                    clip=0.1)  # type: ignore[arg-type]
            m = ranking_metrics(fit.scores(), coat.test, 5)
            vals.append((m.dcg, m.recall, m.map))
        arr = np.asarray(vals)
        cells = " | ".join(f"{arr[:, j].mean():.4f} ± {arr[:, j].std():.4f}" for j in range(3))
        print(f"| {labels[kind]} | {best_cfg} | {cells} |")
    print(f"\nmean ± std over {seeds} seeds; grid dim (20, 50) x l2 (1e-4, 1e-3, 1e-2, 1e-1), "
          "30 epochs, Adam lr 0.01, batch 4096, no bias terms.")


def _table(rows: list[tuple[str, float, float, float, float]]) -> None:
    print("| estimator | recoworld (s) | obp 0.5.7 (s) | speed-up | same value |")
    print("|---|---|---|---|---|")
    for name, t_ours, v_ours, t_obp, v_obp in rows:
        same = abs(v_ours - v_obp) <= 1e-9 * max(1.0, abs(v_obp))
        print(f"| {name} | {t_ours:.3f} | {t_obp:.3f} | {t_obp / t_ours:.1f}x | {same} |")


def speed_embed_slate(n_mips: int = 500_000, n_actions: int = 100, n_categories: int = 10,
                      n_slates: int = 50_000, k: int = 10, length: int = 5) -> None:
    """MIPS and the slate estimators against obp 0.5.7, side by side on the same arrays."""
    from obp.ope import MarginalizedInverseProbabilityWeighting as ObpMIPS
    from obp.ope import SlateCascadeDoublyRobust as ObpCascadeDR
    from obp.ope import SlateIndependentIPS as ObpIIPS
    from obp.ope import SlateRewardInteractionIPS as ObpRIPS
    from obp.ope import SlateStandardIPS as ObpSIPS

    rng = np.random.default_rng(0)
    # --- MIPS: each action has one category; obp gets the same deterministic p(e|a) -----------
    category = rng.integers(0, n_categories, n_actions)
    pb = rng.dirichlet(np.ones(n_actions), size=n_mips)
    pe = rng.dirichlet(np.ones(n_actions), size=n_mips)
    action = (pb.cumsum(axis=1) > rng.random(n_mips)[:, None]).argmax(axis=1)
    reward = rng.binomial(1, 0.3, n_mips).astype(np.float64)
    log = BanditLog.from_arrays(action, reward, pb[np.arange(n_mips), action], n_actions)
    p_e_a = np.zeros((n_actions, n_categories, 1))
    p_e_a[np.arange(n_actions), category, 0] = 1.0
    pb3, pe3 = pb[:, :, None], pe[:, :, None]
    embed = category[action][:, None]
    rows = []
    t_o, v_o = _median_time(lambda: MarginalizedInverseProbabilityWeighting()
                            .estimate_policy_value(log, pe, pb, category))
    t_b, v_b = _median_time(lambda: ObpMIPS(n_actions=n_actions).estimate_policy_value(
        reward=reward, action=action, action_embed=embed, pi_b=pb3, action_dist=pe3,
        p_e_a=p_e_a, position=np.zeros(n_mips, dtype=np.int64)))
    rows.append(("MIPS", t_o, v_o, t_b, v_b))
    # --- slates: positions drawn independently by the logging policy --------------------------
    mu = rng.dirichlet(np.ones(k), size=(n_slates, length)).transpose(0, 2, 1)  # (n, K, L)
    pi = rng.dirichlet(np.ones(k), size=(n_slates, length)).transpose(0, 2, 1)
    cum = np.cumsum(mu, axis=1)
    slate = np.minimum((cum <= rng.random((n_slates, 1, length))).sum(axis=1), k - 1)
    pos_reward = rng.binomial(1, 0.2, (n_slates, length)).astype(np.float64)
    build, slog = _median_time(lambda: SlateLog(
        episode=np.arange(n_slates), step=np.zeros(n_slates, dtype=np.int64),
        user=np.zeros(n_slates, dtype=np.int64), features=np.zeros((n_slates, 1)),
        candidates=np.tile(np.arange(k), (n_slates, 1)), slate=slate, reward=pos_reward,
        shown=np.ones((n_slates, length), dtype=bool), logging_marginals=mu, n_items=k), 3)
    t_ad, ad = _median_time(lambda: SlateActionDist.independent(pi), 3)
    q_hat = rng.random((n_slates, length, k))
    rows_, pos_ = np.arange(n_slates)[:, None], np.arange(length)[None, :]
    mu_pos, pi_pos = mu[rows_, slate, pos_], pi[rows_, slate, pos_]
    flat = {"slate_id": np.repeat(np.arange(n_slates), length), "reward": pos_reward.ravel(),
            "position": np.tile(np.arange(length), n_slates)}
    ours = {
        "SIPS (standard)": lambda: SlateStandardIPS().estimate_policy_value(slog, ad),
        "IIPS (independent)": lambda: SlateIndependentIPS().estimate_policy_value(slog, ad),
        "RIPS (reward interaction)": lambda: SlateRewardInteractionIPS().estimate_policy_value(
            slog, ad),
        "cascade-DR": lambda: SlateCascadeDoublyRobust().estimate_policy_value(slog, ad, q_hat),
    }
    theirs = {
        "SIPS (standard)": lambda: ObpSIPS(len_list=length).estimate_policy_value(
            pscore=np.repeat(mu_pos.prod(axis=1), length),
            evaluation_policy_pscore=np.repeat(pi_pos.prod(axis=1), length), **flat),
        "IIPS (independent)": lambda: ObpIIPS(len_list=length).estimate_policy_value(
            pscore_item_position=mu_pos.ravel(),
            evaluation_policy_pscore_item_position=pi_pos.ravel(), **flat),
        "RIPS (reward interaction)": lambda: ObpRIPS(len_list=length).estimate_policy_value(
            pscore_cascade=np.cumprod(mu_pos, axis=1).ravel(),
            evaluation_policy_pscore_cascade=np.cumprod(pi_pos, axis=1).ravel(), **flat),
        "cascade-DR": lambda: ObpCascadeDR(len_list=length, n_unique_action=k)
        .estimate_policy_value(
            action=slate.ravel(), pscore_cascade=np.cumprod(mu_pos, axis=1).ravel(),
            evaluation_policy_pscore_cascade=np.cumprod(pi_pos, axis=1).ravel(),
            q_hat=q_hat.ravel(), evaluation_policy_action_dist=pi.transpose(0, 2, 1).ravel(),
            **flat),
    }
    for name, fn in ours.items():
        t_o, v_o = _median_time(fn)
        t_b, v_b = _median_time(theirs[name], 3)
        rows.append((name, t_o, v_o, t_b, v_b))
    print(f"\n### Speed: MIPS on {n_mips:,} rows x {n_actions} actions ({n_categories} "
          f"categories); slates: {n_slates:,} slates x {length} positions x {k} candidates "
          f"(median of {REPEATS} calls ours, 3 obp)\n")
    print(f"SlateLog (validation, once per log): {build:.3f} s; SlateActionDist.independent "
          f"(validation, once per target): {t_ad:.3f} s. obp gets the propensities already "
          "gathered per position (its input format); ours gathers them from the (n, K, L) "
          "marginals inside the call.\n")
    _table(rows)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    print(f"bench_estimators.py {what}  ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})")
    if what in ("coat", "all"):
        coat_figures()
    if what in ("speed", "all"):
        speed()
    if what in ("speed-embed-slate", "all"):
        speed_embed_slate()
