"""The language family: word embeddings and language models trained on token shards.

A text method gets batches of int64 token tensors (a dict made by the stream kind it names,
``stream``: see ``data/textloader.py``) and returns ``(loss, logs)`` like every method.  Its
representation is a word-vector table (``word_vectors() -> [V, D]``) and, per token,
``encode(tokens) = encode_tokens(tokens) -> [B, T, D]`` (the word's vector for the static
methods, the Transformer's output for ``masked_lm``, whose word vectors are the mean of its
contextual vectors over a word's occurrences: ``contextual = True``).  Language
models (``ngram_lm``) also score text: ``nll(batch) -> (summed -log p, tokens)`` and
``score(tokens) -> (-log p per target, targets)`` over a stream of whole sentences.

Training length is in epochs (``epochs``) unless ``steps`` is set: ``train_steps`` turns
the examples of one pass over the training split into optimizer steps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..augment.tokens import IGNORE, bert_mask
from ..core.errors import ConfigError
from ..core.schema import check, in_range, non_negative, one_of, positive
from ..data.text import EOS_ID, keep_probability
from ..data.textloader import make_examples
from ..losses.word2vec import (hierarchical_softmax_loss, huffman_tree, negative_sampling_loss, noise_distribution,
                               sample_negatives)
from ..models.vit import heads_for, transformer_blocks
from .base import METHODS, Method, MethodParams


@dataclass
class TextMethodParams(MethodParams):
    dim: int = check(64, positive, help="size of the word vectors.")
    epochs: float = check(5.0, positive, help="passes over the training split (used when steps is empty).")
    # small embedding ops: OpenMP workers on 2 busy cores wait on each other (one thread measured ~14x faster)
    threads: int | None = check(1, positive, help="CPU threads of this method's training (overrides train.threads).")


class TextMethod(Method):
    """Shared by the language methods: no image backbone; the text representation contract."""

    family = "language"
    modality = "text"
    Params = TextMethodParams
    #: the example kind of its training stream (``data/textloader.EXAMPLES``)
    stream: ClassVar[str] = ""
    #: word vectors are means of contextual vectors (need data), not a table
    contextual: ClassVar[bool] = False
    #: scores text with ``nll`` (perplexity is reported)
    is_language_model: ClassVar[bool] = False

    def build_encoder(self, ctx):
        return None

    # --- training stream ------------------------------------------------------------
    def stream_options(self) -> dict:
        """Keyword options of the example maker (windows, subsampling probabilities, ...)."""
        return {}

    def train_steps(self, examples_per_epoch: int, batch_size: int) -> int:
        """Optimizer steps for ``epochs`` passes (``steps`` set in params.yaml wins)."""
        if self.params.steps is not None:
            return self.params.steps
        return max(1, math.ceil(self.params.epochs * examples_per_epoch / batch_size))

    # --- representation -------------------------------------------------------------
    def word_vectors(self) -> torch.Tensor:
        """The word-vector table [V, D] (static methods)."""
        raise NotImplementedError(f"method {self.name!r} has contextual word vectors: average encode_tokens over occurrences")

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """The representation of tokens: :meth:`encode_tokens` (a static method's lookup, a contextual one's Transformer)."""
        return self.encode_tokens(tokens)

    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Per-token vectors [B, T, D] of sentences [B, T] (-1 = padding, given a zero vector)."""
        out = self.word_vectors()[tokens.clamp(min=0)]
        return out * (tokens >= 0)[..., None].to(out.dtype)

    #: tokens per row when a token stream is encoded (a contextual model's own window)
    row_length: ClassVar[int] = 32

    @torch.no_grad()
    def encode_stream(self, tokens: np.ndarray, batch_size: int = 512, device="cpu") -> tuple[np.ndarray, np.ndarray]:
        """The words of a token stream (``</s>`` left out) and their vectors in context: ids [N], float32 [N, D].

        Each sentence is encoded alone, as rows of ``row_length`` tokens (``sequence`` examples).
        """
        rows = make_examples("sequence", np.asarray(tokens), None, seq_len=self.row_length)["tokens"]
        ids, out = [], []
        for start in range(0, len(rows), batch_size):
            r = rows[start:start + batch_size]
            z = self.encode_tokens(torch.as_tensor(r, device=device)).float().cpu().numpy()
            ids.append(r[r >= 0])
            out.append(z[r >= 0])
        if not ids:
            return np.zeros(0, np.int64), np.zeros((0, self.params.dim), np.float32)
        return np.concatenate(ids), np.concatenate(out)


# --- word2vec: skip-gram and CBOW ---------------------------------------------------------
@dataclass
class Word2VecParams(TextMethodParams):
    window: int = check(5, positive, help="maximal window; each centre draws its window uniformly from 1..window.")
    negative: int = check(5, non_negative, help="noise words per example (0 = no negative sampling; then set hs: true).")
    hs: bool = check(False, help="also (or only, with negative: 0) train a hierarchical softmax over a Huffman tree.")
    noise_power: float = check(0.75, in_range(0.0, 1.0), help="noise distribution ~ count^noise_power (0.75 in the paper).")
    sample: float = check(1e-3, non_negative, help="subsampling threshold t (0 = keep every word).")
    sample_formula: str = check("paper", one_of("paper", "word2vec"), help="paper: keep sqrt(t/f); word2vec: the C code's (sqrt(f/t)+1) t/f.")
    batch_size: int | None = check(512, positive, help="examples per step.")
    lr: float | None = check(0.02, positive)

    def validate(self, key: str) -> None:
        if self.negative == 0 and not self.hs:
            raise ConfigError(f"{key}.negative", "is 0 and hs is false: there is no output layer to train.", "set negative: 5 or hs: true.")


class Word2Vec(TextMethod):
    """Shared by skip-gram and CBOW: input vectors (the representation) and output vectors / Huffman inner nodes."""

    Params = Word2VecParams

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        v, d = ctx.vocab_size, params.dim
        self.inputs = nn.Embedding(v, d)
        nn.init.uniform_(self.inputs.weight, -0.5 / d, 0.5 / d)  # word2vec's initialization; outputs start at zero
        if params.negative:
            self.outputs = nn.Embedding(v, d)
            nn.init.zeros_(self.outputs.weight)
            self.register_buffer("noise", noise_distribution(ctx.counts, params.noise_power, exclude=(EOS_ID,) + ctx.skip_ids), persistent=False)
        if params.hs:
            tree = huffman_tree(ctx.counts)
            self.inner = nn.Parameter(torch.zeros(tree.n_inner, d))
            for name, t in zip(("codes", "points", "lengths"), tree.tensors()):
                self.register_buffer(name, t, persistent=False)

    def stream_options(self):
        p = self.params
        keep = keep_probability(np.asarray(self.ctx.counts), p.sample, p.sample_formula)
        return {"window": p.window, "keep": keep, "skip": self.ctx.skip_ids}

    def word_vectors(self):
        return self.inputs.weight

    def objective(self, h: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss, logs = h.new_zeros(()), {}
        if self.params.negative:
            neg = sample_negatives(self.noise, (len(target), self.params.negative))
            ns = negative_sampling_loss(h, self.outputs(target), self.outputs(neg))
            loss, logs["ns_loss"] = loss + ns, ns.item()
        if self.params.hs:
            hs = hierarchical_softmax_loss(h, target, self.inner, self.codes, self.points, self.lengths)
            loss, logs["hs_loss"] = loss + hs, hs.item()
        return loss, logs


@METHODS.register("skipgram")
class SkipGram(Word2Vec):
    """Skip-gram (Mikolov et al. 2013a, b): predict each context word from the centre word's vector.

    Negative sampling (unigram^0.75 noise), optional hierarchical softmax, frequent-word
    subsampling and a dynamic window, as in the released word2vec.
    """

    stream = "skipgram"

    def loss(self, batch):
        return self.objective(self.inputs(batch["center"]), batch["context"])


@METHODS.register("cbow")
class CBOW(Word2Vec):
    """Continuous bag of words (Mikolov et al. 2013a): predict the centre word from the mean of its context vectors."""

    stream = "cbow"

    def loss(self, batch):
        ctx = batch["context"]
        valid = (ctx >= 0).to(self.inputs.weight.dtype)
        h = (self.inputs(ctx.clamp(min=0)) * valid[..., None]).sum(1) / valid.sum(1, keepdim=True).clamp(min=1)
        return self.objective(h, batch["center"])


# --- the neural probabilistic language model -------------------------------------------
@dataclass
class NGramParams(TextMethodParams):
    context: int = check(4, positive, help="previous words the model conditions on (n - 1 of the n-gram).")
    hidden: int = check(128, positive, help="tanh hidden units.")
    direct: bool = check(False, help="direct connections from the word features to the output (the paper's W).")
    batch_size: int | None = check(512, positive)
    lr: float | None = check(0.002, positive)
    epochs: float = check(2.0, positive)


@METHODS.register("ngram_lm")
class NGramLM(TextMethod):
    """A neural probabilistic language model (Bengio et al. 2003): p(w_t | w_{t-n+1..t-1}) = softmax(b + W x + U tanh(d + H x)).

    x concatenates the shared feature vectors C(w) of the previous words (padded with </s> at
    a sentence start); C is the word representation.  Trained by the full softmax's cross-entropy.
    """

    Params = NGramParams
    stream = "ngram"
    is_language_model = True

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        v, d = ctx.vocab_size, params.dim
        self.features = nn.Embedding(v, d)
        self.hidden = nn.Linear(params.context * d, params.hidden)
        self.out = nn.Linear(params.hidden, v)
        self.direct = nn.Linear(params.context * d, v, bias=False) if params.direct else None

    def stream_options(self):
        return {"context": self.params.context}

    def logits(self, context: torch.Tensor) -> torch.Tensor:
        x = self.features(context).flatten(1)
        y = self.out(torch.tanh(self.hidden(x)))
        return y + self.direct(x) if self.direct is not None else y

    def loss(self, batch):
        loss = F.cross_entropy(self.logits(batch["context"]), batch["target"])
        return loss, {"perplexity": math.exp(min(loss.item(), 50.0))}

    @torch.no_grad()
    def nll(self, batch) -> tuple[float, int]:
        return F.cross_entropy(self.logits(batch["context"]), batch["target"], reduction="sum").item(), len(batch["target"])

    @torch.no_grad()
    def score(self, tokens: np.ndarray, batch_size: int = 4096, device="cpu") -> tuple[np.ndarray, np.ndarray]:
        """-log p (natural log) of every token of a stream of whole sentences (each ``</s>`` too) [N], and those targets [N]."""
        ex = make_examples("ngram", np.asarray(tokens), None, **self.stream_options())
        out = []
        for start in range(0, len(ex["target"]), batch_size):
            b = {k: torch.as_tensor(v[start:start + batch_size], device=device) for k, v in ex.items()}
            out.append(F.cross_entropy(self.logits(b["context"]), b["target"], reduction="none").double().cpu().numpy())
        return (np.concatenate(out) if out else np.zeros(0)), ex["target"]

    def word_vectors(self):
        return self.features.weight


# --- masked language modelling -----------------------------------------------------------
def sincos_1d(length: int, dim: int) -> torch.Tensor:
    """Fixed sine-cosine position embeddings [length, dim] (Vaswani et al. 2017): frequencies 1 / 10000^(2i/d)."""
    if dim % 2:
        raise ValueError(f"position embedding size {dim} must be even")
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim // 2))
    angles = torch.arange(length, dtype=torch.float64)[:, None] * omega[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


@dataclass
class MaskedLMParams(TextMethodParams):
    depth: int = check(2, in_range(1, 12), help="Transformer blocks (the ViT blocks of models/vit.py).")
    seq_len: int = check(32, positive, help="tokens per row (sentences are padded or continued on a next row).")
    select: float = check(0.15, in_range(0.0, 1.0, lo_open=True), help="share of tokens selected for prediction (15% in BERT).")
    mask: float = check(0.8, in_range(0.0, 1.0), help="of the selected: share replaced by [MASK] (80%).")
    random: float = check(0.1, in_range(0.0, 1.0), help="of the selected: share replaced by a random word (10%); the rest stay unchanged.")
    batch_size: int | None = check(64, positive, help="rows per step.")
    lr: float | None = check(0.001, positive)
    epochs: float = check(2.0, positive)

    def validate(self, key: str) -> None:
        if self.mask + self.random > 1:
            raise ConfigError(f"{key}.random", f"mask + random = {self.mask + self.random} exceeds 1.", "use mask: 0.8, random: 0.1 (BERT's split).")
        if self.dim % 2:
            raise ConfigError(f"{key}.dim", f"{self.dim} is odd; the position embedding needs an even size.", "use an even dim such as 64.")


@METHODS.register("masked_lm")
class MaskedLM(TextMethod):
    """Masked language modelling (Devlin et al. 2019): a small Transformer encoder predicts selected tokens from both sides.

    BERT's 80/10/10 rule (``augment/tokens.bert_mask``), pre-norm blocks shared with the ViT,
    fixed sine-cosine positions, and an output layer tied to the input embeddings.  The
    representation of a token is the encoder's output at it; a word's vector is the mean over
    its occurrences.
    """

    Params = MaskedLMParams
    stream = "sequence"
    contextual = True

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        v, d = ctx.vocab_size, params.dim
        self.pad_id, self.mask_id = v, v + 1
        self.embed = nn.Embedding(v + 2, d)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.register_buffer("positions", sincos_1d(params.seq_len, d), persistent=False)
        self.blocks = transformer_blocks(d, params.depth, heads_for(d))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d))
        self.bias = nn.Parameter(torch.zeros(v))

    def stream_options(self):
        return {"seq_len": self.params.seq_len}

    @property
    def row_length(self) -> int:
        return self.params.seq_len

    def encode_inputs(self, inputs: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        x = self.embed(inputs) + self.positions[: inputs.shape[1]]
        for block in self.blocks:
            x = block(x, src_key_padding_mask=padding)
        return self.norm(x)

    def loss(self, batch):
        tokens = batch["tokens"]
        padding = tokens < 0
        real = tokens.masked_fill(padding, self.pad_id)
        maskable = ~padding & (real != EOS_ID)
        inputs, targets = bert_mask(real, maskable, self.mask_id, self.ctx.vocab_size, self.params.select, self.params.mask, self.params.random)
        hidden = self.encode_inputs(inputs, padding)
        sel = targets != IGNORE
        if not sel.any():
            return hidden.sum() * 0.0, {"masked": 0.0}
        logits = self.head(hidden[sel]) @ self.embed.weight[: self.ctx.vocab_size].T + self.bias
        loss = F.cross_entropy(logits, targets[sel])
        return loss, {"masked_accuracy": (logits.argmax(1) == targets[sel]).float().mean().item()}

    def encode_tokens(self, tokens):
        padding = tokens < 0
        out = self.encode_inputs(tokens.masked_fill(padding, self.pad_id), padding)
        return out * (~padding)[..., None].to(out.dtype)


# --- baselines -------------------------------------------------------------------------------
@dataclass
class GensimParams(MethodParams):
    dim: int = check(64, positive, help="vector_size.")
    window: int = check(5, positive)
    negative: int = check(5, non_negative)
    hs: bool = check(False)
    sample: float = check(1e-3, non_negative, help="gensim's subsampling threshold (the C code's formula).")
    epochs: int = check(5, positive)
    sg: bool = check(True, help="skip-gram (true) or CBOW (false).")
    alpha: float = check(0.025, positive, help="initial SGD learning rate (decays linearly to min_alpha).")
    min_alpha: float = check(0.0001, positive)
    workers: int = check(1, positive, help="gensim threads (1 = reproducible run to run).")


@METHODS.register("word2vec_gensim")
class GensimWord2Vec(TextMethod):
    """gensim's Word2Vec (Rehurek & Sojka 2010) on the same training sentences: the implementation users would otherwise pick.

    Fitted, not trained in the shared loop; ``<unk>`` is left out as gensim leaves out
    unknown words; word ids are passed as tokens, so the vocabulary is the shards'.  One
    worker and a fixed string hash make the vectors the same run to run (gensim seeds each
    vector from a hash of the word, Python's salted one by default).
    """

    Params = GensimParams
    trainable = False
    fit_samples = -1  # the whole training split

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        self.register_buffer("vectors", torch.zeros(ctx.vocab_size, params.dim))

    def fit(self, tokens) -> dict[str, float]:
        import zlib

        from gensim.models import Word2Vec as GensimModel

        from ..data.text import split_sentences

        tokens = np.asarray(tokens.cpu() if isinstance(tokens, torch.Tensor) else tokens)
        skip = set(self.ctx.skip_ids)
        sents = [[str(t) for t in s if t not in skip] for s in split_sentences(tokens)]
        p = self.params
        model = GensimModel(sents, vector_size=p.dim, window=p.window, negative=p.negative, hs=int(p.hs), sample=p.sample,
                            epochs=p.epochs, sg=int(p.sg), alpha=p.alpha, min_alpha=p.min_alpha, min_count=1, workers=p.workers,
                            seed=self.ctx.seed, hashfxn=lambda s: zlib.crc32(s.encode()), max_vocab_size=None)
        ids = np.array([int(w) for w in model.wv.index_to_key])
        self.vectors.zero_()
        self.vectors[torch.as_tensor(ids)] = torch.as_tensor(model.wv.vectors, dtype=self.vectors.dtype)
        return {"words": float(len(ids)), "train_words": float(model.corpus_total_words)}

    def word_vectors(self):
        return self.vectors


@dataclass
class RandomWordsParams(MethodParams):
    dim: int = check(64, positive, help="text datasets: size of the random word vectors (image datasets use the backbone).")


class RandomWordTable(TextMethod):
    """random_init on text: a word-vector table at its seeded random initialization (N(0, 1)), never trained."""

    family = "baseline"
    trainable = False
    Params = RandomWordsParams

    def __init__(self, params, ctx):
        super().__init__(params, ctx)
        g = torch.Generator().manual_seed(ctx.seed)
        self.register_buffer("vectors", torch.randn(ctx.vocab_size, params.dim, generator=g))

    def word_vectors(self):
        return self.vectors


RandomWordTable.name = "random_init"
