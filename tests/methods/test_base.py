"""The shared mechanisms of the method base class: momentum targets and auxiliary networks."""
import copy
from dataclasses import dataclass

import torch
from torch import nn

from sslpipe.models.backbones import BackboneConfig
from sslpipe.methods.base import Method, MethodContext, MethodParams

CTX = MethodContext(1, 16, BackboneConfig(width=8, depth=2, code_dim=8))


class Toy(Method):
    """A momentum target of the encoder and an auxiliary critic on the codes (not registered)."""

    name = "toy"

    @dataclass
    class Params(MethodParams):
        momentum: float = 0.9

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.target = self.momentum_pair(self.encoder)
        self.auxiliary("critic", nn.Linear(ctx.code_dim, 1), self.critic_loss, lr=1e-2, betas=(0.5, 0.9))

    def loss(self, x):
        z = self.encoder(x)
        self.train_auxiliary("critic", z)
        return z.pow(2).mean() + self.critic(z).mean(), {}

    def critic_loss(self, z):
        loss = (self.critic(z) - 1).pow(2).mean()
        return loss, {"critic_loss": loss.item()}


def toy(momentum: float = 0.9) -> Toy:
    torch.manual_seed(0)
    return Toy(Toy.Params(momentum=momentum), CTX)


def step(m: Method, opt, x, n: int) -> None:
    """The shared loop's order: loss, backward, step, on_step_end."""
    loss, _ = m.loss(x)
    opt.zero_grad()
    loss.backward()
    opt.step()
    m.on_step_end(n)


def batch(seed: int = 0) -> torch.Tensor:
    return torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(seed))


def test_momentum_target_is_a_frozen_copy_outside_the_shared_optimizer():
    m = toy()
    target = list(m.target.parameters())
    assert all(torch.equal(t, o) for t, o in zip(target, m.encoder.parameters()))
    assert all(not p.requires_grad for p in target)
    assert not {id(p) for p in target} & {id(p) for p in m.optim_parameters()}
    assert any(k.startswith("target.") for k in m.state_dict())  # saved with the weights


def test_momentum_update_is_the_ema_formula_after_the_step():
    m = toy(momentum=0.75)
    opt = torch.optim.SGD(m.optim_parameters(), lr=0.5)
    before = [p.clone() for p in m.target.parameters()]
    loss, _ = m.loss(batch())
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert all(torch.equal(t, b) for t, b in zip(m.target.parameters(), before))  # untouched by the optimizer
    online = [p.detach().clone() for p in m.encoder.parameters()]
    assert any(not torch.equal(o, b) for o, b in zip(online, before))
    m.on_step_end(0)
    for t, b, o in zip(m.target.parameters(), before, online):
        assert torch.allclose(t, 0.75 * b + 0.25 * o, rtol=0, atol=1e-7)


def test_momentum_extremes_and_a_schedule():
    for momentum, expected in [(0.0, "online"), (1.0, "before")]:
        m = toy(momentum)
        before = [p.clone() for p in m.target.parameters()]
        step(m, torch.optim.SGD(m.optim_parameters(), lr=0.5), batch(), 0)
        ref = list(m.encoder.parameters()) if expected == "online" else before
        assert all(torch.equal(t, r) for t, r in zip(m.target.parameters(), ref))

    class Scheduled(Toy):
        def momentum(self, step):
            return 0.0 if step == 3 else 1.0

    m = Scheduled(Toy.Params(), CTX)
    opt = torch.optim.SGD(m.optim_parameters(), lr=0.5)
    before = [p.clone() for p in m.target.parameters()]
    step(m, opt, batch(), 2)
    assert all(torch.equal(t, b) for t, b in zip(m.target.parameters(), before))
    step(m, opt, batch(), 3)
    assert all(torch.equal(t, o) for t, o in zip(m.target.parameters(), m.encoder.parameters()))


def test_auxiliary_is_registered_but_not_trained_by_the_shared_optimizer():
    m = toy()
    own = {id(p) for p in m.critic.parameters()}
    assert own and own <= {id(p) for p in m.parameters()}
    assert not own & {id(p) for p in m.optim_parameters()}
    assert "critic.weight" in m.state_dict()
    assert m.extra_state() == {"critic_optimizer": m.auxiliaries["critic"].optimizer.state_dict()}


def test_auxiliary_step_is_one_adam_step_on_its_own_loss_only():
    m = toy()
    critic = copy.deepcopy(m.critic)
    ref_opt = torch.optim.Adam(critic.parameters(), lr=1e-2, betas=(0.5, 0.9))
    opt = torch.optim.SGD(m.optim_parameters(), lr=0.1)
    loss, _ = m.loss(batch())
    z = m.auxiliaries["critic"].inputs[0]
    assert not z.requires_grad
    opt.zero_grad()
    loss.backward()  # leaves gradients of the main loss on the critic
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(m.critic.parameters(), critic.parameters()))
    m.on_step_end(0)
    ref_loss = (critic(z) - 1).pow(2).mean()
    ref_loss.backward()
    ref_opt.step()
    assert all(torch.equal(a, b) for a, b in zip(m.critic.parameters(), critic.parameters()))
    assert m.auxiliaries["critic"].logs == {"critic_loss": ref_loss.item()}
    assert m.auxiliaries["critic"].inputs is None
    before = [p.clone() for p in m.critic.parameters()]
    m.on_step_end(1)  # nothing handed over: no step
    assert all(torch.equal(a, b) for a, b in zip(m.critic.parameters(), before))


def test_auxiliary_optimizer_state_round_trips_through_extra_state():
    m = toy()
    opt = torch.optim.Adam(m.optim_parameters(), lr=1e-3)
    for n in range(3):
        step(m, opt, batch(n), n)
    state = copy.deepcopy(m.extra_state())
    assert state["critic_optimizer"]["state"][0]["step"] == 3
    fresh = Toy(Toy.Params(), CTX)
    fresh.load_state_dict(m.state_dict())
    fresh.load_extra_state(state)
    saved = fresh.auxiliaries["critic"].optimizer.state_dict()
    for k, v in state["critic_optimizer"]["state"].items():
        assert all(torch.equal(torch.as_tensor(v[s]), torch.as_tensor(saved["state"][k][s])) for s in v)
    # the restored critic continues exactly as the original
    for method in (m, fresh):
        method.train_auxiliary("critic", torch.randn(8, 8, generator=torch.Generator().manual_seed(9)))
        method.on_step_end(3)
    assert all(torch.equal(a, b) for a, b in zip(m.critic.parameters(), fresh.critic.parameters()))
