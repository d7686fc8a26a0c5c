"""Sequential models: order matters, windows cover every position once, new users."""

import os

import numpy as np
import pandas as pd
import pytest
import torch

from skmatch.features import UserHistory
from skmatch.model_selection import leave_last_out_split
from skmatch.models import NARM, STAMP, GRU4Rec, SASRec
from skmatch.models.sequential.gru4rec import GRU4RecModule
from skmatch.models.sequential.narm import NARMModule
from skmatch.models.sequential.sasrec import SASRecModule
from skmatch.models.sequential.stamp import STAMPModule
from skmatch.nn.protocol import Batch
from skmatch.nn.sequence import (
    CausalSelfAttention,
    PackedGRU,
    causal_low_pass,
    left_to_right,
    right_to_left,
)
from skmatch.training import FrequencyLogQ, Objective
from skmatch.training.plans import WindowPlan, windows

DEVICE = os.environ.get("SKMATCH_TEST_DEVICE", "cpu")
FAST = dict(embed_dim=16, n_epochs=3, random_state=0, device=DEVICE)
SEQ = [GRU4Rec, NARM, SASRec, STAMP]


@pytest.fixture(scope="module")
def split(synthetic):
    return leave_last_out_split(synthetic)


@pytest.fixture(scope="module")
def fitted(split):
    return {cls: cls(**FAST).fit(split[0]) for cls in SEQ}


@pytest.mark.parametrize("cls", SEQ, ids=[c.__name__ for c in SEQ])
def test_user_embedding_depends_on_history_order(cls, fitted, split):
    train = split[0]
    hist = train[train["user_id"] == "u3"].copy()
    reordered = hist.assign(timestamp=hist["timestamp"].to_numpy()[::-1])
    a = fitted[cls].transform_users(hist)
    b = fitted[cls].transform_users(reordered)
    assert not np.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("cls", SEQ, ids=[c.__name__ for c in SEQ])
def test_unknown_items_in_new_history_are_oov(cls, fitted):
    new = pd.DataFrame(
        {"user_id": ["x", "x", "x"], "item_id": ["i1", "never", "i2"], "timestamp": [1, 2, 3]}
    )
    ids, scores = fitted[cls].recommend(new, k=5)
    assert ids.shape == (1, 5) and np.isfinite(scores).all()
    assert not np.isin(ids, ["i1", "i2"]).any()


def test_windows_cover_each_target_once():
    # users with 1, 2, 5 and 8 events, windows of 3
    lengths = np.array([1, 2, 5, 8])
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    hist = UserHistory(indptr, np.arange(2, 2 + lengths.sum()), 20)
    users, ends = windows(hist, 3)
    covered = []
    for u, e in zip(users, ends, strict=True):
        covered.extend(range(max(e - 3, indptr[u] + 1), e))
    expected = [i for u in range(4) for i in range(indptr[u] + 1, indptr[u + 1])]
    assert sorted(covered) == expected  # every position but each user's first, once


def test_window_batches_carry_each_targets_weight(split):
    """A window position weighs as the row of its target item, oldest first, padding 0."""
    from skmatch import FeatureSpec

    train = split[0].copy()
    train["weight"] = np.arange(len(train), dtype=np.float64) % 7 + 0.5
    inter = FeatureSpec(max_seq_len=5).fit_transform(train)
    plan = WindowPlan(inter, 5, inter.spec.user_table_)
    users, ends = windows(inter.history, 5)
    np.testing.assert_array_equal(plan.users, users)
    batch = plan.batch(plan.units, torch.device("cpu"))
    targets, weights = batch.targets.numpy(), batch.weight.numpy()
    assert weights.dtype == np.float32 and (weights[targets == 0] == 0).all()
    # by hand: each user's rows in time order, the weight of the row at each target slot
    by_user = {}
    for row in np.lexsort((np.arange(len(inter)), inter.times, inter.user_codes)):
        by_user.setdefault(inter.user_codes[row], []).append(row)
    for w, (u, e) in enumerate(zip(users, ends, strict=True)):
        rows = by_user[u][1 : e - inter.history.indptr[u]][-5:]  # the first is no target
        assert targets[w, 5 - len(rows) :].tolist() == inter.item_codes[rows].tolist()
        np.testing.assert_allclose(weights[w, 5 - len(rows) :], inter.weights[rows])
    trimmed = batch.trim_padding()
    assert trimmed.weight.shape == trimmed.targets.shape == trimmed.hist.shape


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_every_window_target_weighs_the_same_in_any_batch(split, weighted):
    """A window batch's loss is its targets' (weighted) sum over one fixed divisor, so
    that splitting a batch into a short-window and a long-window part (as length buckets
    do) leaves the loss, hence the gradient, unchanged; with a per-batch mean, a target
    of a short-window batch would weigh many times one of a long-window batch."""
    from skmatch import FeatureSpec

    train = split[0].copy()
    if weighted:
        train["weight"] = np.arange(len(train), dtype=np.float64) % 5 + 0.5
    inter = FeatureSpec(max_seq_len=8).fit_transform(train)
    plan = WindowPlan(inter, 8, inter.spec.user_table_)
    plan.batches(plan.units, 64, np.random.default_rng(0))  # fixes the divisor
    total = (
        plan.lengths.sum() if not weighted else inter.history_weights.sum()
        - inter.history_weights[inter.history.indptr[:-1][np.diff(inter.history.indptr) > 0]].sum()
    )
    assert plan.norm == pytest.approx(64 * total / plan.units.size)
    counts = np.bincount(inter.item_codes, minlength=inter.spec.n_items_ + 2)
    objective = Objective(mode="listwise", negatives="all", n_negatives=1, temperature=1.0,
                          logq_correction=False, embedding_l2=0.0, counts=counts,
                          log_q=FrequencyLogQ(counts, torch.device("cpu")))  # fmt: skip
    torch.manual_seed(0)
    module = SASRecModule(counts.size, 16, 2, 1, 0.0, 8).eval()
    units = plan.units[np.argsort(plan.lengths, kind="stable")][:200]  # short, then long
    short, long = units[:100], units[100:]
    assert plan.lengths[long].sum() > 2 * plan.lengths[short].sum()

    def loss(part):
        return objective(module, plan.batch(part, torch.device("cpu")), None)

    torch.testing.assert_close(loss(short) + loss(long), loss(units), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("stride", [1, 3, 8])
def test_overlapping_windows_train_each_target_once_with_its_context(split, stride):
    """With ``stride`` targets per window, windows of 8 items overlap: every target is
    trained exactly once (its weight too), at one of a window's last ``stride`` slots,
    and the window holds the ``8 - 1`` items before it (or all the user has)."""
    from skmatch import FeatureSpec

    unweighted = FeatureSpec(max_seq_len=8).fit_transform(split[0])
    plan = WindowPlan(unweighted, 8, unweighted.spec.user_table_, stride=stride)
    targets = plan.batch(plan.units, torch.device("cpu")).targets.numpy()
    assert plan.per_window * plan.units.size == pytest.approx((targets > 0).sum())
    train = split[0].assign(weight=np.arange(len(split[0]), dtype=np.float64) % 5 + 0.5)
    inter = FeatureSpec(max_seq_len=8).fit_transform(train)
    plan = WindowPlan(inter, 8, inter.spec.user_table_, stride=stride)
    disjoint = WindowPlan(inter, 8, inter.spec.user_table_)
    batch = plan.batch(plan.units, torch.device("cpu"))
    hist, targets, weights = batch.hist.numpy(), batch.targets.numpy(), batch.weight.numpy()
    every = disjoint.batch(disjoint.units, torch.device("cpu"))
    assert (targets > 0).sum() == (every.targets.numpy() > 0).sum()
    assert weights.sum() == pytest.approx(every.weight.numpy().sum())
    assert plan.per_window * plan.units.size == pytest.approx(weights.sum())
    assert (targets[:, : 8 - stride] == 0).all()  # only the last `stride` slots train
    items, indptr = inter.history.items, inter.history.indptr
    seen = set()
    for w, (u, e) in enumerate(zip(plan.users, plan.ends, strict=True)):
        for slot in np.flatnonzero(targets[w]):
            at = e - (8 - slot)  # index of this target in `items`
            assert targets[w, slot] == items[at] and at not in seen
            seen.add(at)
            assert slot >= 8 - stride  # so at least 8 - stride items of context ...
            context = items[max(indptr[u], at - (slot + 1)) : at]  # ... or all the user has
            assert hist[w, slot + 1 - context.size : slot + 1].tolist() == context.tolist()
            assert (hist[w, : slot + 1 - context.size] == 0).all()
    assert len(seen) == (targets > 0).sum()
    if stride == 1:  # one window per target: exactly the row's prefix, as rows train
        rows = np.flatnonzero(inter.positions > 0)
        by_item_index = indptr[inter.user_codes[rows]] + inter.positions[rows]
        order = np.argsort(by_item_index)
        np.testing.assert_array_equal(np.sort(plan.ends - 1), by_item_index[order])
        pick = np.argsort(plan.ends - 1)
        np.testing.assert_array_equal(hist[pick], inter.histories(rows[order], 8))


def test_window_stride_takes_effect_and_is_checked(split, tmp_path):
    from skmatch import FeatureSpec

    train = split[0]
    mean = train.groupby("user_id").size().mean()
    kw = dict(FAST, n_epochs=2, early_stopping=False)
    # "auto": disjoint windows when the histories fit in a window on average ...
    plain = SASRec(**kw).fit(train)
    assert mean < 50 and plain.window_stride_ is None
    assert SASRec(**kw, window_stride=50).fit(train).loss_curve_ == plain.loss_curve_
    assert SASRec(**kw, window_stride=None).fit(train).loss_curve_ == plain.loss_curve_
    assert SASRec(**kw, window_stride=7).fit(train).loss_curve_ != plain.loss_curve_
    # ... half windows when they are longer (rounded up), and then a different fit
    short = dict(kw, feature_spec=FeatureSpec(max_seq_len=5))
    half = SASRec(**short).fit(train)
    assert mean > 5 and half.window_stride_ == 3
    assert half.loss_curve_ != SASRec(**short, window_stride=None).fit(train).loss_curve_
    assert half.loss_curve_ == SASRec(**short, window_stride=3).fit(train).loss_curve_
    half.save(tmp_path / "m.skm")
    assert SASRec.load(tmp_path / "m.skm").window_stride_ == 3
    assert SASRec(**short, window_stride=99).fit(train).window_stride_ == 5  # the window
    gru = GRU4Rec(**short).fit(train)
    assert gru.window_stride_ is None  # its default: disjoint
    assert GRU4Rec(**short, window_stride=2).fit(train).loss_curve_ != gru.loss_curve_
    narm = NARM(**short).fit(train)
    assert narm.window_stride_ is None
    assert NARM(**short, window_stride=2).fit(train).loss_curve_ != narm.loss_curve_
    assert SASRec(**short, train_positions="last").fit(train).window_stride_ is None
    with pytest.raises(ValueError, match="window_stride must be an integer >= 1"):
        NARM(window_stride=0).fit(train)
    with pytest.raises(ValueError, match="window_stride must be None, 'auto' or an integer"):
        SASRec(window_stride="half").fit(train)
    with pytest.raises(ValueError, match="train_positions='last'"):
        GRU4Rec(window_stride=5, train_positions="last").fit(train)


@pytest.mark.parametrize("cls", [GRU4Rec, SASRec])
def test_window_training_uses_weights(cls, split):
    """Weights of one train exactly as no weights; zero weight on every row of the most
    popular item stops it being learned as a next item (it stays in the histories)."""
    train = split[0]
    kw = dict(FAST, n_epochs=4)
    plain = cls(**kw).fit(train)
    ones = cls(**kw).fit(train.assign(weight=1.0))
    assert ones.loss_curve_ == plain.loss_curve_
    top = train["item_id"].value_counts().index[0]
    zeroed = cls(**kw).fit(train.assign(weight=np.where(train["item_id"] == top, 0.0, 1.0)))
    users = train["user_id"].unique()

    n_items = train["item_id"].nunique()

    def mean_rank_of_top(est):  # over a full ranking of the catalogue, seen items kept
        ids = est.recommend(users, k=n_items, filter_seen=False, return_scores=False)
        return float((np.asarray(ids) == top).argmax(axis=1).mean())

    plain_rank, zeroed_rank = mean_rank_of_top(plain), mean_rank_of_top(zeroed)
    assert zeroed_rank >= max(2 * plain_rank, 50), (zeroed_rank, plain_rank)


def test_packed_gru_ignores_padding():
    torch.manual_seed(0)
    gru = PackedGRU(4, 5)
    x = torch.randn(1, 3, 4)
    padded = torch.cat([torch.randn(1, 2, 4), x], dim=1)  # garbage in the padding
    mask = torch.tensor([[False, False, True, True, True]])
    out_p, last_p = gru(padded, mask)
    out, last = gru(x, torch.ones(1, 3, dtype=torch.bool))
    torch.testing.assert_close(last_p, last)
    torch.testing.assert_close(out_p[:, 2:], out)
    assert (out_p[:, :2] == 0).all()
    lengths = torch.tensor([2])
    y = torch.arange(5.0).view(1, 5)
    torch.testing.assert_close(right_to_left(left_to_right(y, lengths), lengths), y)


def test_trim_padding_keeps_results():
    batch = Batch(hist=torch.tensor([[0, 0, 3, 4], [0, 0, 0, 5]]), pos=torch.tensor([1, 2]))
    trimmed = batch.trim_padding()
    assert trimmed.hist.tolist() == [[3, 4], [0, 5]]
    assert trimmed.pos.tolist() == [1, 2] and batch.hist.shape == (2, 4)


def test_sasrec_positions_start_on_the_scale_of_the_scaled_items():
    """Torch's N(0, 1) positions drowned the items (N(0, 0.05) times sqrt(d)) at the
    start; both now start at the same scale (docs/benchmarks.md, SASRec position init)."""
    torch.manual_seed(0)
    m = SASRecModule(500, 64, n_heads=2, n_layers=2, dropout=0.2, max_len=50)
    items = m.items.weight[1:].std().item() * 64**0.5
    positions = m.encoder.positions.weight.std().item()
    assert 0.8 < positions / items < 1.25, (positions, items)


def test_sasrec_checks_heads_and_last_position_switch(split):
    with pytest.raises(ValueError, match="n_heads"):
        SASRec(embed_dim=10, n_heads=3).fit(split[0])
    with pytest.raises(ValueError, match="train_positions"):
        SASRec(train_positions="some").fit(split[0])
    model = SASRec(**{**FAST, "train_positions": "last", "n_epochs": 1}).fit(split[0])
    assert np.isfinite(model.loss_curve_).all()


def test_ligr_block_gates_each_residual_branch_with_its_input():
    """``block="ligr"``: h + sigmoid(W h + b) * branch(norm(h)), SwiGLU feed-forward of
    width 4D; with every gate opened fully it is the ungated block; bad names raise."""
    torch.manual_seed(0)
    enc = CausalSelfAttention(16, 2, 2, 0.0, 7, block="ligr").eval()
    assert len(enc.attn_gate) == len(enc.ff_gate) == 2
    assert enc.ff[0].gate.weight.shape == (64, 16) and enc.ff[0].down.bias is None
    x, mask = torch.randn(3, 7, 16), torch.rand(3, 7) > 0.3
    gated = enc(x, mask)
    with torch.no_grad():
        for gate in [*enc.attn_gate, *enc.ff_gate]:
            gate.weight.zero_()
            gate.bias.fill_(50.0)  # sigmoid(50) == 1 in float32
    opened = enc(x, mask)
    plain = CausalSelfAttention(16, 2, 2, 0.0, 7, block="ligr").eval()
    plain.load_state_dict(enc.state_dict())
    plain.attn_gate, plain.ff_gate = torch.nn.ModuleList(), torch.nn.ModuleList()
    torch.testing.assert_close(opened, plain(x, mask))
    assert not torch.allclose(gated, opened)
    assert not list(CausalSelfAttention(16, 2, 2, 0.0, 7).attn_gate)  # sasrec: no gates
    with pytest.raises(ValueError, match="block"):
        SASRec(block="gpt").fit(pd.DataFrame({"user_id": ["u"], "item_id": ["i"]}))


def test_bsarec_filter_is_the_papers_at_the_last_position_of_each_prefix():
    """Row t of the causal low-pass is what BSARec's FFT filter (keep the c // 2 + 1
    lowest frequencies of the window, orthonormal) gives the window's last position when
    the history ending at t is left-padded to the whole window."""
    L, c = 20, 5
    low = causal_low_pass(L, c).double()
    assert torch.equal(low, low.tril())  # causal
    x = torch.randn(3, L, 4, dtype=torch.float64)
    for t in (0, 6, L - 1):
        window = torch.zeros_like(x)
        window[:, L - 1 - t :] = x[:, : t + 1]
        spectrum = torch.fft.rfft(window, dim=1, norm="ortho")
        spectrum[:, c // 2 + 1 :] = 0
        paper = torch.fft.irfft(spectrum, n=L, dim=1, norm="ortho")[:, -1]
        torch.testing.assert_close((low @ x)[:, t], paper, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="cutoff"):
        causal_low_pass(L, 0)


def test_bsarec_settings_reach_the_loss(split):
    base = dict(FAST, block="bsarec", n_epochs=1)
    losses = [
        SASRec(**base, **extra).fit(split[0]).loss_curve_
        for extra in ({}, dict(filter_mix=0.3), dict(filter_cutoff=9))
    ]
    assert losses[0] != losses[1] and losses[0] != losses[2]


def test_bsarec_files_saved_before_alpha_keep_their_weighting(split, tmp_path):
    """``filter_mix`` weighted the attention before it was BSARec's alpha: a file without
    ``filter_mix_`` (saved then) builds ``1 - filter_mix`` on the filter, so its outputs do
    not change on load; a fit records the weight it used."""
    model = SASRec(**dict(FAST, n_epochs=1), filter_mix=0.3).fit(split[0])
    assert model.filter_mix_ == 0.3 and model.module_.encoder.mix == 0.3
    assert SASRec(**dict(FAST, n_epochs=1), block="sasrec").fit(split[0]).filter_mix_ is None
    users = ["u1", "u2", "u3"]
    expected = model.transform_users(users)
    state = model.__getstate__()  # pickled before the change: old default, no marker
    state.pop("filter_mix_")
    state["filter_mix"] = None
    old = SASRec.__new__(SASRec)
    old.__setstate__(state)
    assert old.module_.encoder.mix == pytest.approx(0.3)
    np.testing.assert_array_equal(old.transform_users(users), expected)
    del model.filter_mix_  # saved before the change, through save/load
    model.set_params(filter_mix=None)
    model.save(tmp_path / "old.skm")
    loaded = SASRec.load(tmp_path / "old.skm")
    assert loaded.module_.encoder.mix == pytest.approx(0.3)
    np.testing.assert_array_equal(loaded.transform_users(users), expected)


def test_bsarec_block_mixes_the_filter_into_the_attention_branch():
    """``block="bsarec"`` with ``mix=0`` (no filter) is the plain block with the same
    weights; with ``mix > 0`` the filter changes the states; its settings are refused
    elsewhere."""
    torch.manual_seed(0)
    x, mask = torch.randn(3, 7, 16), torch.rand(3, 7) > 0.3
    mixed = CausalSelfAttention(16, 2, 2, 0.0, 7, block="bsarec", mix=0.7).eval()
    assert len(mixed.sqrt_beta) == 2 and mixed.low_pass.shape == (7, 7)
    assert "low_pass" not in mixed.state_dict()  # rebuilt from max_len and cutoff
    attention_only = CausalSelfAttention(16, 2, 2, 0.0, 7, block="bsarec", mix=0.0).eval()
    attention_only.load_state_dict(mixed.state_dict())
    plain = CausalSelfAttention(16, 2, 2, 0.0, 7).eval()
    plain.load_state_dict(mixed.state_dict(), strict=False)
    torch.testing.assert_close(attention_only(x, mask), plain(x, mask))
    assert not torch.allclose(mixed(x, mask), plain(x, mask), atol=1e-3)
    # mix is BSARec's alpha, the filter's weight: at 1 the attention does not count
    filter_only = CausalSelfAttention(16, 2, 2, 0.0, 7, block="bsarec", mix=1.0).eval()
    filter_only.load_state_dict(mixed.state_dict())
    before = filter_only(x, mask)
    with torch.no_grad():
        for layer in filter_only.qkv:
            layer.weight.normal_()
    torch.testing.assert_close(filter_only(x, mask), before)
    empty = pd.DataFrame({"user_id": ["u"], "item_id": ["i"]})
    for bad, match in [
        (dict(block="sasrec", filter_mix=0.5), "filter_mix applies to block='bsarec' only"),
        (dict(block="ligr", filter_cutoff=3), "filter_cutoff applies"),
        (dict(block="bsarec", filter_mix=1.5), r"filter_mix must be in \[0, 1\]"),
        (dict(block="bsarec", filter_cutoff=0), "filter_cutoff must be an integer"),
    ]:
        with pytest.raises(ValueError, match=match):
            SASRec(**bad).fit(empty)


def _window_models():
    return {
        "GRU4Rec": lambda: GRU4RecModule(40, 16, 24, 1, 0.0),
        "NARM": lambda: NARMModule(40, 16, 24, 1, 0.0, 0.0),
        "SASRec-first": lambda: SASRecModule(40, 16, 2, 2, 0.0, 12, anchor="first"),
        "SASRec-bsarec-first": lambda: SASRecModule(
            40, 16, 2, 2, 0.0, 12, anchor="first", block="bsarec", mix=0.5
        ),
    }


@pytest.mark.parametrize("name", list(_window_models()))
def test_window_states_equal_prefix_user_vectors(name):
    """Training on every position of a window is only right when the state at position
    t is the user vector of the history that ends at t. SASRec's paper positions count
    from the window's end, so there it holds at the last position only; with
    ``position_anchor="first"`` it holds everywhere (see the next test)."""
    torch.manual_seed(0)
    module = _window_models()[name]().eval()
    hist = torch.randint(2, 40, (5, 12))
    hist[0, :4] = 0  # short history
    hist[1, :11] = 0  # one item
    hist[2] = 0  # empty
    with torch.no_grad():
        states = module.sequence_forward(Batch(hist=hist))  # [5, 12, 16]
        for t in (4, 7, 11):  # the history that ends at t, left-padded to the same width
            prefix = torch.cat([torch.zeros(5, 11 - t, dtype=hist.dtype), hist[:, : t + 1]], 1)
            users = module.user_forward(Batch(hist=prefix))
            keep = hist[:, t] > 0  # positions that hold an item (targets elsewhere unused)
            torch.testing.assert_close(states[keep, t], users[keep], rtol=1e-5, atol=1e-6)


def test_sasrec_paper_positions_differ_between_window_and_prefix():
    """With the paper's positions (``"last"``) the state after t items of a window is
    not the user vector of those t items: what ``position_anchor="first"`` fixes."""
    torch.manual_seed(0)
    module = SASRecModule(40, 16, 2, 2, 0.0, 12).eval()
    hist = torch.randint(2, 40, (3, 12))
    with torch.no_grad():
        states = module.sequence_forward(Batch(hist=hist))
        prefix = torch.cat([torch.zeros(3, 6, dtype=hist.dtype), hist[:, :6]], 1)
        users = module.user_forward(Batch(hist=prefix))
    assert not torch.allclose(states[:, 5], users, atol=1e-3)
    torch.testing.assert_close(states[:, -1], module.user_forward(Batch(hist=hist)))
    with pytest.raises(ValueError, match="position_anchor"):
        SASRec(position_anchor="middle").fit(pd.DataFrame({"user_id": ["u"], "item_id": ["i"]}))


def test_narm_last_position_switch(split):
    with pytest.raises(ValueError, match="train_positions"):
        NARM(train_positions="every").fit(split[0])
    fast = {**FAST, "n_epochs": 1, "hidden_size": 16}
    windows = NARM(**fast).fit(split[0])
    rows = NARM(**fast, train_positions="last").fit(split[0])
    assert np.isfinite(windows.loss_curve_).all() and np.isfinite(rows.loss_curve_).all()
    assert windows.n_iter_ == rows.n_iter_ == 1


@pytest.mark.parametrize("module_cls", [GRU4RecModule, NARMModule, SASRecModule])
def test_states_at_asked_positions_are_those_of_the_full_window(module_cls):
    torch.manual_seed(0)
    args = {
        GRU4RecModule: (40, 16, 24, 1, 0.0),
        NARMModule: (40, 16, 24, 1, 0.0, 0.0),
        SASRecModule: (40, 16, 2, 2, 0.0, 9),
    }[module_cls]
    module = module_cls(*args).eval()
    hist = torch.randint(2, 40, (4, 9))
    hist[0, :6] = 0
    positions = (hist > 0) & (torch.rand(4, 9) < 0.6)
    with torch.no_grad():
        full = module.sequence_forward(Batch(hist=hist))  # [4, 9, 16]
        asked = module.sequence_forward(Batch(hist=hist), positions)  # [P, 16]
    torch.testing.assert_close(asked, full[positions], rtol=1e-5, atol=1e-6)


def _plain_stamp(m, hist):
    """STAMP's user vector written as in the paper (Liu et al. 2018, eq. 7-10)."""
    mask = hist > 0
    x = m.items(hist)
    last = x[:, -1]
    memory = x.sum(1) / mask.sum(1, keepdim=True).clamp_min(1)
    gate = torch.sigmoid(m.w1(x) + m.w2(last).unsqueeze(1) + m.w3(memory).unsqueeze(1))
    alpha = m.w0(gate) * mask.unsqueeze(-1)
    attended = (alpha * x).sum(1)
    return torch.tanh(m.mlp_a(attended)) * torch.tanh(m.mlp_b(last))


def _plain_narm(m, hist):
    mask = hist > 0
    out, last = m.gru(m.items(hist), mask)
    alpha = m.v(torch.sigmoid(m.a1(out) + m.a2(last).unsqueeze(1))) * mask.unsqueeze(-1)
    return m.bilinear(torch.cat([last, (alpha * out).sum(1)], dim=-1))


@pytest.mark.parametrize("which", ["STAMP", "NARM"])
def test_attention_modules_equal_the_plain_formula_with_gradients(which):
    torch.manual_seed(0)
    if which == "STAMP":
        m, plain = STAMPModule(30, 8), _plain_stamp
    else:
        m, plain = NARMModule(30, 8, 10, 1, 0.0, 0.0), _plain_narm
    m = m.double().train()  # no dropout here; STAMP's training path (projected table)
    torch.nn.init.normal_(m.items.weight, std=0.3)
    with torch.no_grad():
        m.items.weight[0].zero_()
    hist = torch.randint(1, 30, (6, 7))
    hist[0] = 0  # an empty history
    hist[1, :4] = 0  # a short one
    weights = torch.randn(6, 8, dtype=torch.float64)
    params = list(m.parameters())
    ours = torch.autograd.grad((m.user_forward(Batch(hist=hist)) * weights).sum(), params)
    ref = torch.autograd.grad((plain(m, hist) * weights).sum(), params)
    torch.testing.assert_close(m.user_forward(Batch(hist=hist)), plain(m, hist))
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b)


def test_sasrec_attention_by_hand_equals_sdpa():
    """CPU training writes the attention out (for the cheap dropout mask); with a dropout
    that keeps everything it must equal the fused kernel of evaluation."""
    torch.manual_seed(0)
    enc = CausalSelfAttention(16, 2, 2, 1e-9, 7)  # p rounds to 0: every element kept
    x = torch.randn(4, 7, 16)
    mask = torch.rand(4, 7) > 0.3
    mask[0] = False
    torch.testing.assert_close(enc.train()(x, mask), enc.eval()(x, mask))


def test_amp_true_trains_in_bfloat16_on_cpu_and_still_learns(split):
    from skmatch.models.neural import _cpu_has_bf16

    if DEVICE != "cpu":
        pytest.skip("CPU autocast")
    if not _cpu_has_bf16():
        pytest.skip("this CPU has no native bfloat16 (AVX512-BF16 or AMX)")
    train, test = split
    seen = set()

    def record(module, args, out):
        if isinstance(module, torch.nn.Linear) and module.training:
            seen.add(out.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        fast = SASRec(**{**FAST, "n_epochs": 8}, amp=True).fit(train)
        bf16 = set(seen)
        seen.clear()
        full = SASRec(**{**FAST, "n_epochs": 8}).fit(train)
    finally:
        handle.remove()
    assert bf16 == {torch.bfloat16} and seen == {torch.float32}  # "auto": float32 on CPU
    assert fast.item_vectors_.dtype == np.float32  # inference stays float32
    again = SASRec(**{**FAST, "n_epochs": 8}, amp=True).fit(train)
    np.testing.assert_array_equal(again.item_vectors_, fast.item_vectors_)  # reproducible
    a, b = fast.score(test), full.score(test)
    assert a > 0.8 * b, (a, b)


def test_amp_true_warns_on_a_cpu_without_bfloat16(split, monkeypatch):
    import skmatch.models.neural as base

    monkeypatch.setattr(base, "_cpu_has_bf16", lambda: False)
    with pytest.warns(UserWarning, match="without native bfloat16"):
        STAMP(embed_dim=8, n_epochs=1, random_state=0, device="cpu", amp=True).fit(split[0])


def test_padded_rows_leave_the_full_softmax_loss_unchanged():
    """Under CPU autocast the full softmax pads its rows to a multiple of 128 (few kernel
    shapes for oneDNN); the padding must change neither the loss nor the gradients."""
    import torch.nn.functional as F

    from skmatch.training.objective import pad_rows

    g = torch.Generator().manual_seed(0)
    user = torch.randn(37, 8, generator=g, dtype=torch.float64, requires_grad=True)
    items = torch.randn(20, 8, generator=g, dtype=torch.float64)
    target = torch.randint(0, 20, (37,), generator=g)
    weight = torch.rand(37, generator=g, dtype=torch.float64)
    padded, padded_target, padded_weight = pad_rows(user, target, weight, multiple=16)
    assert padded.shape == (48, 8) and (padded_target[37:] == -100).all()
    assert padded_weight.shape == (48,) and (padded_weight[37:] == 0).all()
    assert pad_rows(user, target, multiple=16)[2] is None
    plain = F.cross_entropy(user @ items.T, target)
    ours = F.cross_entropy(padded @ items.T, padded_target, ignore_index=-100)
    torch.testing.assert_close(ours, plain)
    torch.testing.assert_close(
        torch.autograd.grad(ours, user)[0], torch.autograd.grad(plain, user)[0]
    )
    assert pad_rows(user[:32], target[:32], multiple=16)[0].shape == (32, 8)


def test_stamp_projects_keys_either_way_with_the_same_result():
    """STAMP projects the item table when the catalogue is smaller than the batch's
    history slots (in training), else the gathered history: the same keys."""
    torch.manual_seed(0)
    small, large = STAMPModule(12, 8).double(), STAMPModule(400, 8).double()
    hist = torch.randint(0, 12, (5, 6))  # 30 slots: 12 items take the table path
    with torch.no_grad():
        large.load_state_dict({**small.state_dict(), "items.weight": large.items.weight})
        large.items.weight[:12] = small.items.weight
    trained_path = small.user_forward(Batch(hist=hist))
    torch.testing.assert_close(trained_path, large.user_forward(Batch(hist=hist)))
    torch.testing.assert_close(trained_path, small.eval().user_forward(Batch(hist=hist)))


def test_amp_keeps_the_l2_penalty_of_the_real_rows(fitted):
    """Padding the full softmax's rows under CPU autocast must not dilute embedding_l2."""
    if DEVICE != "cpu":
        pytest.skip("CPU autocast")
    est = fitted[SASRec]
    module = est.module_
    g = torch.Generator().manual_seed(0)
    user = torch.randn(5, est.embed_dim, generator=g)  # 5 rows: padded to 128
    pos = torch.randint(2, est.n_item_codes_, (5,), generator=g)
    counts = np.ones(est.n_item_codes_)
    objective = Objective(
        mode=est.mode, negatives=est.negatives, n_negatives=est.n_negatives,
        temperature=est.temperature, logq_correction=est.logq_correction, embedding_l2=0.5,
        counts=counts, log_q=FrequencyLogQ(counts, "cpu"),
    )  # fmt: skip
    full = objective.loss(module, user, pos, module.item_forward(pos), None)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = objective.loss(module, user, pos, module.item_forward(pos), None)
    assert abs(mixed.item() - full.item()) < 0.02 * full.item(), (mixed, full)
