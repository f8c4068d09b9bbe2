"""The training loop: a killed run resumes from its checkpoint and ends exactly where an uninterrupted run ends."""
import pytest
import torch

from sslpipe.models.backbones import BackboneConfig
from sslpipe.train import TrainConfig
from sslpipe.data.loader import train_batches
from sslpipe.data.shards import write_shards
from sslpipe.methods.base import METHODS, MethodContext
from sslpipe.core.runtime import seed_everything
from sslpipe.train import fit_gradient, lr_factor
from tests.conftest import write_crafted_torch_file


def _train(tmp_path, shards, manifest, stop_after=None, resume=None):
    seed_everything(0, 2)
    ctx = MethodContext(1, 16, BackboneConfig(width=8, depth=2, code_dim=4))
    cls = METHODS.get("simclr")
    m = cls(cls.Params(), ctx)
    cfg = TrainConfig(batch_size=32, steps=12, checkpoint_every=4, log_every=2, warmup_steps=2)
    logs = []
    res = fit_gradient(m, cfg, train_batches(shards, manifest, 32, 2, 0), torch.device("cpu"), resume_path=resume,
                       resume_key="k", on_log=lambda s, l: logs.append((s, l["loss"])), stop_after=stop_after)
    return m, res, logs


def test_resume_after_kill_is_bit_identical(tmp_path, toy_source):
    manifest = write_shards(toy_source, tmp_path / "toy", "toy", log=lambda *_: None)
    full, res, logs = _train(tmp_path, tmp_path / "toy", manifest)
    assert res.steps == 12 and len(logs) == 6
    ck = tmp_path / "resume.pt"
    _, part, _ = _train(tmp_path, tmp_path / "toy", manifest, stop_after=5, resume=ck)
    assert part.steps == 5 and ck.exists()
    resumed, res2, logs2 = _train(tmp_path, tmp_path / "toy", manifest, resume=ck)
    assert res2.resumed_from == 5 and res2.steps == 12
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    assert logs2[-1] == logs[-1]


def test_lr_schedule_warms_up_then_decays_to_zero():
    cfg = TrainConfig(steps=100, warmup_steps=10)
    assert lr_factor(0, cfg) == 0.1 and lr_factor(9, cfg) == 1.0
    assert lr_factor(55, cfg) == 0.5 and lr_factor(100, cfg) < 1e-9


# --- resume is transparent and never blocked ------------------------------------------------
def _train_rows(shards, manifest, stop_after=None, resume=None):
    seed_everything(0, 2)
    ctx = MethodContext(1, 16, BackboneConfig(width=8, depth=2, code_dim=4))
    cls = METHODS.get("simclr")
    m = cls(cls.Params(), ctx)
    cfg = TrainConfig(batch_size=32, steps=12, checkpoint_every=4, log_every=2, warmup_steps=2)
    rows = []
    res = fit_gradient(m, cfg, train_batches(shards, manifest, 32, 2, 0), torch.device("cpu"), resume_path=resume,
                       resume_key="k", on_log=lambda s, l: rows.append({"step": s, **l}), stop_after=stop_after)
    return m, res, rows


def _without_rates(rows):
    return [{k: v for k, v in r.items() if k != "images_per_s"} for r in rows]


def test_a_resumed_run_reports_the_whole_training_curve(tmp_path, toy_source):
    manifest = write_shards(toy_source, tmp_path / "toy", "toy", log=lambda *_: None)
    _, full, clean = _train_rows(tmp_path / "toy", manifest)
    ck = tmp_path / "resume.pt"
    _, _, before_kill = _train_rows(tmp_path / "toy", manifest, stop_after=5, resume=ck)
    _, res, resumed = _train_rows(tmp_path / "toy", manifest, resume=ck)
    assert res.resumed_from == 5 and [r["step"] for r in resumed] == [2, 4, 6, 8, 10, 12]
    assert _without_rates(resumed) == _without_rates(clean)  # the steps before the kill are reported again
    assert resumed[:2] == before_kill[:2]  # as they were measured (throughput included)
    assert res.replayed == 2 and [{"step": s, **l} for s, l in res.history] == resumed
    assert [{"step": s, **l} for s, l in full.history] == clean


@pytest.mark.parametrize("damage", ["garbage", "truncated", "crafted"])
def test_a_damaged_resume_file_is_reported_and_training_starts_over(tmp_path, toy_source, damage, capsys):
    manifest = write_shards(toy_source, tmp_path / "toy", "toy", log=lambda *_: None)
    clean, _, _ = _train_rows(tmp_path / "toy", manifest)
    ck = tmp_path / "resume.pt"
    _train_rows(tmp_path / "toy", manifest, stop_after=5, resume=ck)
    marker = tmp_path / "pwned"
    if damage == "garbage":
        ck.write_bytes(b"\0" * 100)
    elif damage == "truncated":
        ck.write_bytes(ck.read_bytes()[:-300])
    else:
        write_crafted_torch_file(ck, marker, key="k", step=5)
    capsys.readouterr()
    m, res, _ = _train_rows(tmp_path / "toy", manifest, resume=ck)
    assert not marker.exists()
    assert res.resumed_from == 0 and res.steps == 12  # not blocked: trained from scratch
    for (k, a), b in zip(clean.state_dict().items(), m.state_dict().values()):
        assert torch.equal(a, b), k
    err = capsys.readouterr().err
    assert f"ignoring the resume file {ck}" in err and "training from step 0" in err


def test_a_resume_file_that_does_not_fit_the_model_starts_over(tmp_path, toy_source, capsys):
    manifest = write_shards(toy_source, tmp_path / "toy", "toy", log=lambda *_: None)
    clean, _, _ = _train_rows(tmp_path / "toy", manifest)
    ck = tmp_path / "resume.pt"
    _train_rows(tmp_path / "toy", manifest, stop_after=5, resume=ck)
    state = torch.load(ck, weights_only=True)
    state["optimizer"]["param_groups"][0]["params"] = [0]  # same key, but another model's optimizer
    torch.save(state, ck)
    m, res, _ = _train_rows(tmp_path / "toy", manifest, resume=ck)
    assert res.resumed_from == 0
    for (k, a), b in zip(clean.state_dict().items(), m.state_dict().values()):
        assert torch.equal(a, b), k
    assert "training from step 0" in capsys.readouterr().err


def test_prefetching_trains_on_the_same_batches(tmp_path, toy_source):
    """The prefetcher (on by default on CUDA) changes when batches are read, never which: same weights, same curve."""
    manifest = write_shards(toy_source, tmp_path / "toy", "toy", log=lambda *_: None)
    results = {}
    for prefetch in (False, True):
        seed_everything(0, 2)
        ctx = MethodContext(1, 16, BackboneConfig(width=8, depth=2, code_dim=4))
        cls = METHODS.get("simclr")
        m = cls(cls.Params(), ctx)
        cfg = TrainConfig(batch_size=32, steps=8, log_every=2, warmup_steps=2)
        logs = []
        res = fit_gradient(m, cfg, train_batches(tmp_path / "toy", manifest, 32, 2, 0), torch.device("cpu"),
                           on_log=lambda s, l: logs.append(l["loss"]), prefetch=prefetch)
        results[prefetch] = (m.state_dict(), logs, res)
    (a, la, ra), (b, lb, rb) = results[False], results[True]
    assert la == lb and ra.steps == rb.steps == 8
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert 0 <= rb.data_wait_seconds <= rb.seconds and 0 < ra.data_wait_seconds <= ra.seconds
    assert ra.first_batch_seconds > 0 and ra.data_wait_seconds + ra.first_batch_seconds <= ra.seconds


@pytest.mark.parametrize("prefetch", [False, True])
def test_a_non_finite_loss_stops_training_with_the_fix(tmp_path, toy_source, prefetch):
    manifest = write_shards(toy_source, tmp_path / "toy", "toy", log=lambda *_: None)
    ctx = MethodContext(1, 16, BackboneConfig(width=8, depth=2, code_dim=4))
    cls = METHODS.get("simclr")
    m = cls(cls.Params(), ctx)
    real = m.loss
    calls = []

    def loss(x):
        calls.append(1)
        value, logs = real(x)
        return (value * float("nan") if len(calls) == 3 else value), logs

    m.loss = loss
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(Exception, match=r"loss became nan at step 2\. Fix: lower the learning rate"):
        fit_gradient(m, TrainConfig(batch_size=32, steps=6, warmup_steps=1), train_batches(tmp_path / "toy", manifest, 32, 2, 0),
                     torch.device("cpu"), prefetch=prefetch)
    assert any(not torch.equal(before[k], v) for k, v in m.state_dict().items())  # two steps were taken, the third was not
