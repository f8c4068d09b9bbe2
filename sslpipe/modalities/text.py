"""Text: token-id streams of whole sentences (``data/text.py``), word and token vectors, word evaluation."""
from __future__ import annotations

import numpy as np

from ..data.text import EOS_ID
from ..data.textloader import count_examples, first_sentences, load_tokens, text_batches
from ..evaluate.embeddings import WordEmbeddings
from ..evaluate.words import embedding_map, mean_by_word, nearest_neighbours
from ..methods.base import TextContext
from .base import MODALITIES, Modality

#: the neighbour table: the most frequent nouns (or words, without tags) and their nearest words
NEIGHBOUR_QUERIES, NEIGHBOURS = 12, 8


def frequent_words(info: dict, n: int, pos: str | None = None) -> list[int]:
    """The ``n`` most frequent word ids (ids are in frequency order), ``</s>`` and ``<unk>`` left out, of one part of speech if given and tagged."""
    skip = {EOS_ID, info.get("unk_id")}
    ids = [i for i in range(len(info["vocab"])) if i not in skip]
    tags, names = info.get("tags", {}).get("pos"), info.get("tag_names", {}).get("pos", [])
    if pos is not None and tags is not None and pos in names:
        ids = [i for i in ids if tags[i] == names.index(pos)]
    return ids[:n]


def neighbours_markdown(vectors: np.ndarray, info: dict, title: str) -> str:
    """The nearest words (cosine) of the most frequent nouns, as a Markdown table."""
    words = info["vocab"]
    skip = {EOS_ID} | ({info["unk_id"]} if info.get("unk_id") is not None else set())
    nn = nearest_neighbours(vectors, frequent_words(info, NEIGHBOUR_QUERIES, "NOUN"), NEIGHBOURS, exclude=skip)
    lines = [f"# {title}: nearest neighbours (cosine)", "", "| word | neighbours |", "|---|---|"]
    lines += [f"| {words[q]} | " + ", ".join(f"{words[i]} ({s:.2f})" for i, s in near) + " |" for q, near in nn.items()]
    return "\n".join(lines) + "\n"


@MODALITIES.register("text")
class Text(Modality):
    examples = "examples"

    def context(self, manifest, cfg, run, seed):
        return TextContext.from_info(manifest["info"], seed)

    def train_config(self, cfg, run, method, shard_dir, manifest, seed):
        if not method.trainable:
            return cfg.method_train(run)
        examples = count_examples(shard_dir, manifest, method.stream, method.stream_options(), seed)  # one pass
        return cfg.method_train(run, epoch_steps=lambda batch_size: method.train_steps(examples, batch_size))

    def train_stream(self, method, shard_dir, manifest, tcfg, seed):
        return text_batches(shard_dir, manifest, method.stream, method.stream_options(), tcfg.batch_size, tcfg.shuffle_buffer, seed)

    def fit_input(self, method, shard_dir, manifest, device):
        return load_tokens(shard_dir, manifest, "train", None if method.fit_samples < 0 else method.fit_samples)

    def embed(self, method, shard_dir, manifest, ecfg, device):
        vocab_size = len(manifest["info"]["vocab"])
        train = first_sentences(load_tokens(shard_dir, manifest, "train", ecfg.train_tokens), ecfg.train_tokens)
        test = first_sentences(load_tokens(shard_dir, manifest, "test", ecfg.probe_tokens), ecfg.probe_tokens)
        method.eval()
        train_ids, train_z = method.encode_stream(train, ecfg.batch_size, device)
        test_ids, test_z = method.encode_stream(test, ecfg.batch_size, device)
        seen = np.bincount(train_ids, minlength=vocab_size)
        if method.contextual:  # a word's vector: the mean of its vectors in context
            words = mean_by_word(train_ids, train_z, vocab_size)[0].astype(np.float32)
        else:
            words = method.word_vectors().detach().float().cpu().numpy()
        k = ecfg.probe_tokens
        emb = WordEmbeddings(words, seen.astype(np.int64), train_ids[:k], train_z[:k].astype(np.float32), test_ids[:k], test_z[:k].astype(np.float32))
        return emb, {"train_tokens": len(train_ids), "probe_tokens": len(emb.train_ids), "test_tokens": len(emb.test_ids),
                     "words_seen": int(np.count_nonzero(seen)), "code_dim": words.shape[1]}

    def figures(self, method, emb, manifest, shard_dir, rcfg, seed, device, title, ecfg=None):
        from ..plots.words import word_map

        info = manifest["info"]
        ids = frequent_words(info, rcfg.scatter_points)
        tag = next((t for t in ("category", "pos") if t in info.get("tags", {})), None)
        labels = np.asarray(info["tags"][tag])[ids] if tag else np.full(len(ids), -1)
        names = info["tag_names"][tag] if tag else []
        xy = embedding_map(emb.word_vectors[ids], seed, rcfg.projection)
        fig = word_map(xy, [info["vocab"][i] for i in ids], labels, names, f"{title}: {len(ids)} most frequent words")
        return {"word_map.png": fig, "neighbours.md": neighbours_markdown(emb.word_vectors, info, title)}
