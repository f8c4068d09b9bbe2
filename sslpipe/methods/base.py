"""The method contract shared by every self-supervised objective.

A method is an ``nn.Module`` registered by name with a ``Params`` dataclass (its
``methods.<name>`` section of params.yaml).  It gets float images in [0, 1] on the
training device and builds its own views (with Kornia, see ``sslpipe.augment``).
``loss(x)`` returns ``(loss, logs)``; ``encode(x)`` returns the representation that
is evaluated downstream.  Methods never touch files, MLflow or the command line.

Two mechanisms several methods share live here, so each method only declares them:
momentum targets (``momentum_pair``: MoCo's key encoder, BYOL's target network) and
auxiliary networks with their own optimizer (``auxiliary``: GAN-style discriminators).
Both are updated by ``on_step_end``, after the shared optimizer step.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import torch
from torch import nn

from ..core.schema import build, check, non_negative, positive, unrecorded
from ..models.backbones import BackboneConfig
from ..models.backbones import build_backbone
from ..core.registry import Registry

METHODS: Registry[type["Method"]] = Registry("method")
#: method contexts by the modality of the data they describe (a model file names its context's)
CONTEXTS: Registry[type] = Registry("method context")


@dataclass
class MethodParams:
    """Per-method overrides of the ``train`` section (None = use ``train``)."""

    steps: int | None = check(None, non_negative, help="training steps of this method (overrides train.steps).")
    lr: float | None = check(None, positive, help="use a positive learning rate such as 0.001.")
    batch_size: int | None = check(None, positive, help="use a batch size of at least 1.")
    threads: int | None = check(None, positive, help="CPU threads of this method's training (overrides train.threads).")


def budget_steps(n: int):
    """A method's default ``steps``: measured to take about 12 s on 2 CPU cores (batch 128, 32x32 grey)."""
    return check(n, non_negative, help="training steps of this method (overrides train.steps); default is about 12 s on 2 CPU cores.")


@CONTEXTS.register("image")
@dataclass
class MethodContext:
    """What a method may know about its images and the shared architecture."""

    channels: int
    resolution: int
    backbone: BackboneConfig
    seed: int = 0
    modality: ClassVar[str] = "image"

    @property
    def code_dim(self) -> int:
        return self.backbone.code_dim

    def make_backbone(self, in_channels: int | None = None, code_dim: int | None = None) -> nn.Module:
        return build_backbone(self.backbone, in_channels or self.channels, self.resolution, code_dim)

    def to_data(self) -> dict:
        """Plain data for a model file (see :meth:`from_data`)."""
        return {"channels": self.channels, "resolution": self.resolution, "backbone": dataclasses.asdict(self.backbone), "seed": self.seed}

    @classmethod
    def from_data(cls, d: dict) -> "MethodContext":
        with unrecorded():  # the model file's own backbone, not params.yaml's
            backbone = build(BackboneConfig, d["backbone"], "backbone")
        return cls(d["channels"], d["resolution"], backbone, d["seed"])


@CONTEXTS.register("text")
@dataclass
class TextContext:
    """What a text method may know about its data: the vocabulary's size and training counts."""

    counts: list[int]  # training-split count per word id (id 0 = </s>)
    unk_id: int | None = None
    seed: int = 0
    modality: ClassVar[str] = "text"

    @property
    def vocab_size(self) -> int:
        return len(self.counts)

    @property
    def skip_ids(self) -> tuple[int, ...]:
        """Ids that are not words to embed: ``<unk>`` (``</s>`` is never a word)."""
        return () if self.unk_id is None else (self.unk_id,)

    @classmethod
    def from_info(cls, info: dict, seed: int = 0) -> "TextContext":
        """From a text manifest's ``info``."""
        return cls(list(info["counts"]), info.get("unk_id"), seed)

    def to_data(self) -> dict:
        """Plain data for a model file (see :meth:`from_data`)."""
        return {"counts": [int(c) for c in self.counts], "unk_id": self.unk_id, "seed": self.seed}

    @classmethod
    def from_data(cls, d: dict) -> "TextContext":
        return cls([int(c) for c in d["counts"]], d["unk_id"], d["seed"])


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """:math:`\\theta_k \\leftarrow m\\,\\theta_k + (1 - m)\\,\\theta_q` for every parameter (He et al. 2020, Eq. 2)."""
    for t, o in zip(target.parameters(), online.parameters()):
        t.mul_(momentum).add_(o.detach(), alpha=1 - momentum)


@dataclass(eq=False)
class Auxiliary:
    """A network trained by its own optimizer on what ``loss`` left for it (see ``Method.auxiliary``)."""

    module: nn.Module
    optimizer: torch.optim.Optimizer
    loss: Callable[..., tuple[torch.Tensor, dict[str, float]]]
    state_key: str
    inputs: tuple[torch.Tensor, ...] | None = None
    logs: dict[str, float] = field(default_factory=dict)


class Method(nn.Module):
    name: ClassVar[str]
    Params: ClassVar[type] = MethodParams
    family: ClassVar[str] = "other"
    #: needs colour images (refused on grey datasets at validation time)
    needs_color: ClassVar[bool] = False
    #: trained by gradient descent in the shared loop; False for baselines fitted by ``fit``
    trainable: ClassVar[bool] = True
    #: how many training images ``fit`` wants (non-gradient baselines)
    fit_samples: ClassVar[int] = 0
    #: the data it trains on: "image", "text" or "video" (``"any"``: all, e.g. random_init); image
    #: methods also train on a video dataset's frames
    modality: ClassVar[str] = "image"
    #: trains on clips [B, T, C, R, R] of a video dataset (other methods get a video dataset's frames)
    clips: ClassVar[bool] = False

    def __init__(self, params, ctx: MethodContext):
        super().__init__()
        self.params = params
        self.ctx = ctx
        self._momentum_pairs: list[tuple[nn.Module, nn.Module]] = []
        self.auxiliaries: dict[str, Auxiliary] = {}
        self.encoder = self.build_encoder(ctx)

    def build_encoder(self, ctx) -> nn.Module | None:
        """The representation network: the shared image backbone (text methods hold their own tables)."""
        return ctx.make_backbone()

    # --- validation -----------------------------------------------------------
    @classmethod
    def incompatible(cls, source_cls, source_params) -> str | None:
        """Why this method cannot run on a dataset, or None (checked before any work)."""
        source_modality = getattr(source_cls, "modality", "image")
        if cls.modality not in ("any", source_modality) and not (cls.modality == "image" and source_modality == "video"):
            return f"it is a method for {cls.modality} data and this dataset is {source_modality}."
        if cls.needs_color and source_cls.channels(source_params) < 3:
            return "it needs colour images and this dataset is grey."
        return None

    # --- training -------------------------------------------------------------
    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The objective on a batch of images in [0, 1]; returns (scalar loss, logs)."""
        raise NotImplementedError

    def optim_parameters(self):
        """Parameters the shared optimizer trains: all but momentum targets and auxiliary networks."""
        own = {id(p) for aux in self.auxiliaries.values() for p in aux.module.parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in own]

    def views(self, x: torch.Tensor):
        """The method's input views of a batch (what ``loss`` builds), for ``sslpipe bench``; None = no views."""
        return None

    def on_step_end(self, step: int) -> None:
        """Called after each optimizer step: momentum targets move, then auxiliary networks take their step.

        Methods with queues or schedules extend it (calling ``super().on_step_end(step)``).
        """
        if self._momentum_pairs:
            m = self.momentum(step)
            for online, target in self._momentum_pairs:
                ema_update(target, online, m)
        self.step_auxiliaries()

    # --- momentum targets -------------------------------------------------------
    def momentum_pair(self, online: nn.Module) -> nn.Module:
        """A frozen copy of ``online`` that follows it by an exponential moving average after every step.

        The slowly moving target of MoCo's key encoder (He et al. 2020) and BYOL's target
        network (Grill et al. 2020): no gradient reaches it, and ``on_step_end`` applies
        :func:`ema_update` with ``momentum(step)``.  Assign it to an attribute so that it is
        saved with the weights.
        """
        target = copy.deepcopy(online)
        for p in target.parameters():
            p.requires_grad_(False)
        self._momentum_pairs.append((online, target))
        return target

    def momentum(self, step: int) -> float:
        """The momentum of step ``step``: ``params.momentum``, constant (override for a schedule such as BYOL's increase to 1)."""
        return self.params.momentum

    # --- auxiliary networks ---------------------------------------------------
    def auxiliary(self, name: str, module: nn.Module, loss: Callable, *, lr: float, betas: tuple[float, float], state_key: str | None = None) -> nn.Module:
        """Register ``module`` as attribute ``name``, trained by its own Adam, not by the shared optimizer.

        For adversarial critics (a GAN discriminator, Goodfellow et al. 2014) that must not
        follow the main loss's gradient: ``loss()`` hands the update its detached inputs with
        ``train_auxiliary(name, ...)``; after the shared step ``on_step_end`` zeroes the
        module's gradients (dropping those the main loss left there), computes
        ``loss(*inputs) -> (loss, logs)``, backpropagates and steps its optimizer.  The
        optimizer's state is checkpointed in ``extra_state`` under ``state_key``
        (default ``<name>_optimizer``); ``auxiliaries[name].logs`` holds the last logs.
        """
        setattr(self, name, module)
        opt = torch.optim.Adam(module.parameters(), lr=lr, betas=betas)
        self.auxiliaries[name] = Auxiliary(module, opt, loss, state_key or f"{name}_optimizer")
        return module

    def train_auxiliary(self, name: str, *inputs: torch.Tensor) -> None:
        """Keep ``inputs`` (detached) for auxiliary ``name``'s update after this step's optimizer step."""
        self.auxiliaries[name].inputs = tuple(t.detach() for t in inputs)

    def step_auxiliaries(self) -> None:
        """One optimizer step of every auxiliary network that ``loss`` gave inputs to."""
        for aux in self.auxiliaries.values():
            if aux.inputs is None:
                continue
            inputs, aux.inputs = aux.inputs, None
            aux.optimizer.zero_grad(set_to_none=True)
            loss, aux.logs = aux.loss(*inputs)
            loss.backward()
            aux.optimizer.step()

    def fit(self, x: torch.Tensor) -> dict[str, float]:
        """Non-gradient baselines: fit on ``fit_samples`` training images; returns logs."""
        return {}

    def extra_state(self) -> dict:
        """State outside ``state_dict`` to checkpoint: the auxiliary networks' optimizers."""
        return {aux.state_key: aux.optimizer.state_dict() for aux in self.auxiliaries.values()}

    def load_extra_state(self, state: dict) -> None:
        for aux in self.auxiliaries.values():
            if aux.state_key in state:
                aux.optimizer.load_state_dict(state[aux.state_key])

    # --- representation -------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The representation evaluated downstream: [B, D]."""
        return self.encoder(x)

    def backbone_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the backbone sees of images in [0, 1] (colorization methods: the lightness only)."""
        return x

    # --- decoders (generative and reconstruction methods) ---------------------
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] from codes; only methods with a decoder override this."""
        raise NotImplementedError(f"method {self.name!r} has no decoder")

    @property
    def has_decoder(self) -> bool:
        return type(self).decode is not Method.decode


def build_method(name: str, params, ctx: MethodContext) -> Method:
    return METHODS.get(name)(params, ctx)
