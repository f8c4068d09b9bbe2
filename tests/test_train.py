"""The training loop: a killed run resumes from its checkpoint and ends exactly where an uninterrupted run ends."""
import torch

from sslpipe.models.backbones import BackboneConfig
from sslpipe.train import TrainConfig
from sslpipe.data.loader import train_batches
from sslpipe.data.shards import write_shards
from sslpipe.methods.base import METHODS, MethodContext
from sslpipe.core.runtime import seed_everything
from sslpipe.train import fit_gradient, lr_factor


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
