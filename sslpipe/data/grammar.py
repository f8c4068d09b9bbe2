"""``grammar``: a procedural corpus with planted structure, so every word evaluation has ground truth.

A probabilistic grammar over a generated vocabulary of pronounceable pseudo-words.  Nouns
belong to semantic categories (animals, foods, tools, ...), verbs take objects of one
category, adjectives describe one category.  Every content word is a *form* of a *lemma*,
and the planted relations are form pairs of the same lemma:

=================  ====================  ========================================
relation           pair (a : b)           what marks the form in a sentence
=================  ====================  ========================================
singular_plural    ``toma : tomas``       determiners (a, this, one / these, some, two)
verb_past          ``pelu : pelued``      time adverbs (today, now / yesterday, once)
male_female        ``doki : dokiess``     possessives (his / her)
country_capital    ``rasia : rasville``   frames (the nation of ... / the city of ...)
=================  ====================  ========================================

What identifies a lemma (and so what its two forms share) is its own preferred contexts:
each noun lemma has two signature adjectives and each object noun two signature verbs
(chosen with probability ``signature``), each country-capital pair two signature foods.
So a word vector is approximately lemma + form, and a : b :: c : d holds by construction.

Frequencies: lemma weights follow Zipf's law, weight(rank) proportional to rank^-zipf,
with ranks drawn at random across all content lemmas; every slot draws its lemma in
proportion to these weights among the lemmas that fit the slot, so a word's frequency is
its lemma's Zipf weight shared out over its forms.

Ground truth stored with the corpus: each word's part of speech (universal tags) and
semantic category (nouns; -1 for other words), the analogy questions (all ``a b c d`` over
two different lemmas of a relation, at most ``analogies_per_relation`` of them), and a
graded similarity list: 3 = the two forms of one lemma, 2 = two nouns of one category,
1 = two nouns of different categories, 0 = a noun and a verb or adjective.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.errors import ConfigError
from ..core.schema import check, in_range, positive
from .sources import SOURCES, SPLITS
from .text import EOS, EOS_ID, TextInfo, TextParams, TextSource, TokenSplit

RELATIONS = ("singular_plural", "verb_past", "male_female", "country_capital")
POS = ("NOUN", "PROPN", "VERB", "ADJ", "DET", "ADP", "ADV", "AUX")
CATEGORIES = ("animal", "food", "tool", "vehicle", "plant", "clothing", "instrument", "building", "person", "country", "city")
OBJECT_CATEGORIES = ("food", "tool", "vehicle", "plant", "clothing", "instrument")  # what transitive verbs take
ADJ_CATEGORIES = ("animal", "food", "tool", "vehicle", "plant", "clothing", "instrument", "building", "person")

DET_SG = ("a", "this", "one", "every")
DET_PL = ("these", "some", "many", "two")
PREPS = ("near", "behind", "beside", "under", "inside")
TIME = {"present": ("today", "now", "often"), "past": ("yesterday", "once", "earlier")}
FUNCTION_POS = {
    **{w: "DET" for w in DET_SG + DET_PL + ("the", "his", "her", "its")},
    **{w: "ADP" for w in PREPS + ("of", "for", "across", "to")},
    **{w: "ADV" for w in TIME["present"] + TIME["past"]},
    **{w: "AUX" for w in ("is",)},
    **{w: "NOUN" for w in ("nation", "city", "capital")},
    **{w: "VERB" for w in ("known",)},
}
CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"
#: shares of the content vocabulary (in words) by class
SHARES = {"noun": 0.52, "person": 0.08, "geo": 0.08, "verb": 0.18, "adj": 0.14}


@dataclass
class GrammarParams(TextParams):
    vocab_size: int = check(1000, in_range(200, 100000), help="words of the generated vocabulary (content words + about 60 function words).")
    n_train: int = check(40000, positive, help="training sentences.")
    n_val: int = check(1000, positive, help="validation sentences.")
    n_test: int = check(4000, positive, help="test sentences (perplexity, per-token probes).")
    zipf: float = check(1.0, in_range(0.0, 3.0), help="Zipf exponent s of the lemma frequencies (weight ~ rank^-s; 0 = uniform).")
    relations: list[str] = check(list(RELATIONS), help=f"planted relations, any of: {', '.join(RELATIONS)}.")
    signature: float = check(0.7, in_range(0.0, 1.0), help="probability that a slot uses one of its lemma's signature words (what the lemma's forms share).")
    analogies_per_relation: int = check(400, positive, help="analogy questions drawn per relation.")
    similarity_pairs: int = check(100, positive, help="similarity pairs per grade (4 grades).")

    def validate(self, key: str) -> None:
        bad = [r for r in self.relations if r not in RELATIONS]
        if bad:
            raise ConfigError(f"{key}.relations", f"unknown relation(s) {', '.join(map(repr, bad))}.", f"use any of: {', '.join(RELATIONS)}.")
        if len(set(self.relations)) != len(self.relations):
            raise ConfigError(f"{key}.relations", "lists a relation twice.", "list each relation once.")


def pseudo_words(n: int, rng: np.random.Generator, taken: set[str]) -> list[str]:
    """``n`` distinct consonant-vowel stems (2 or 3 syllables) not in ``taken``; they end in a vowel, so suffixed forms never collide with a stem."""
    out: list[str] = []
    seen = set(taken)
    while len(out) < n:
        m = n - len(out)
        syl = rng.integers(2, 4, size=m)
        c = rng.integers(0, len(CONSONANTS), size=(m, 3))
        v = rng.integers(0, len(VOWELS), size=(m, 3))
        for k in range(m):
            w = "".join(CONSONANTS[c[k, j]] + VOWELS[v[k, j]] for j in range(syl[k]))
            if w not in seen:
                seen.add(w)
                out.append(w)
    return out


@dataclass
class Lexicon:
    """The generated vocabulary: words with tags, lemma tables and the slot-filling distributions."""

    words: list[str] = field(default_factory=list)
    pos: list[int] = field(default_factory=list)
    category: list[int] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    def add(self, word: str, pos: str, category: str | None = None) -> int:
        if word in self.index:
            raise ValueError(f"word {word!r} generated twice")
        self.index[word] = len(self.words)
        self.words.append(word)
        self.pos.append(POS.index(pos))
        self.category.append(CATEGORIES.index(category) if category else -1)
        return self.index[word]


class Grammar:
    """The lexicon and sentence frames for one (vocab_size, zipf, relations, signature, seed)."""

    def __init__(self, p: GrammarParams, seed: int):
        self.p = p
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x6A]))
        rel = set(p.relations)
        self.forms = {"noun": 2 if "singular_plural" in rel else 1, "verb": 2 if "verb_past" in rel else 1,
                      "person": 2 if "male_female" in rel else 1}
        lex = Lexicon()
        lex.add(EOS, "DET")  # id 0; its tag is not used (sentence ends are not words)
        for w, pos in FUNCTION_POS.items():
            lex.add(w, pos)
        content = p.vocab_size - len(lex.words)
        n = {
            "noun": max(len(ADJ_CATEGORIES) - 1, int(content * SHARES["noun"]) // self.forms["noun"]),
            "person": max(2, int(content * SHARES["person"]) // self.forms["person"]),
            "geo": max(2, int(content * SHARES["geo"]) // 2),
            "verb": max(len(OBJECT_CATEGORIES) + 1, int(content * SHARES["verb"]) // self.forms["verb"]),
        }
        n["adj"] = max(len(ADJ_CATEGORIES), content - n["noun"] * self.forms["noun"] - n["person"] * self.forms["person"] - 2 * n["geo"] - n["verb"] * self.forms["verb"])
        stems = iter(pseudo_words(sum(n.values()), rng, set(lex.words)))
        noun_cats = [c for c in ADJ_CATEGORIES if c != "person"]
        # nouns: lemma i of category noun_cat[i]; forms (sg, pl)
        self.noun_cat = np.arange(n["noun"]) % len(noun_cats)
        self.noun_forms = np.array([[lex.add(s, "NOUN", noun_cats[c])] + ([lex.add(s + "s", "NOUN", noun_cats[c])] if self.forms["noun"] == 2 else [])
                                    for c, s in zip(self.noun_cat, (next(stems) for _ in range(n["noun"])))])
        self.person_forms = np.array([[lex.add(s, "NOUN", "person")] + ([lex.add(s + "ess", "NOUN", "person")] if self.forms["person"] == 2 else [])
                                      for s in (next(stems) for _ in range(n["person"]))])
        geo = [next(stems) for _ in range(n["geo"])]
        self.geo_forms = np.array([[lex.add(s + "ia", "PROPN", "country"), lex.add(s + "ville", "PROPN", "city")] for s in geo])
        # verbs: lemma j takes objects of OBJECT_CATEGORIES[verb_obj[j]] (a few take places: travel verbs)
        self.verb_obj = np.arange(n["verb"]) % (len(OBJECT_CATEGORIES) + 1)  # the last value = country/city objects
        self.verb_forms = np.array([[lex.add(s, "VERB")] + ([lex.add(s + "ed", "VERB")] if self.forms["verb"] == 2 else [])
                                    for s in (next(stems) for _ in range(n["verb"]))])
        self.adj_cat = np.arange(n["adj"]) % len(ADJ_CATEGORIES)
        self.adj_ids = np.array([lex.add(next(stems), "ADJ", ADJ_CATEGORIES[c]) for c in self.adj_cat])
        self.lex = lex
        # adjectives carry no semantic category label (categories label nouns); keep their class in adj_cat
        for a in self.adj_ids:
            lex.category[a] = -1

        # Zipf weights: ranks shuffled across every content lemma
        sizes = [n["noun"], n["person"], n["geo"], n["verb"], n["adj"]]
        ranks = rng.permutation(sum(sizes)) + 1
        w = ranks.astype(np.float64) ** -p.zipf
        parts = np.split(w, np.cumsum(sizes)[:-1])
        self.w_noun, self.w_person, self.w_geo, self.w_verb, self.w_adj = parts
        # signatures: per noun lemma 2 adjectives of its category and (objects) 2 verbs taking its category
        self.noun_sig_adj = np.stack([rng.choice(np.flatnonzero(self.adj_cat == ADJ_CATEGORIES.index(noun_cats[c])), 2, replace=False) for c in self.noun_cat])
        self.person_sig_adj = np.stack([rng.choice(np.flatnonzero(self.adj_cat == ADJ_CATEGORIES.index("person")), 2, replace=False) for _ in range(n["person"])])
        self.is_object = np.isin(self.noun_cat, [noun_cats.index(c) for c in OBJECT_CATEGORIES])
        self.obj_cat = np.array([OBJECT_CATEGORIES.index(noun_cats[c]) if noun_cats[c] in OBJECT_CATEGORIES else -1 for c in self.noun_cat])
        self.noun_sig_verb = np.stack([rng.choice(np.flatnonzero(self.verb_obj == oc), 2, replace=False) if oc >= 0 else np.zeros(2, np.int64) for oc in self.obj_cat])
        foods = np.flatnonzero(self.noun_cat == noun_cats.index("food"))
        self.geo_sig_food = np.stack([rng.choice(foods, 2, replace=False) for _ in range(n["geo"])])
        self.counts_by_class = n

    # --- sampling helpers (vectorised) --------------------------------------------------
    @staticmethod
    def _draw(rng, weights: np.ndarray, size: int, allowed: np.ndarray | None = None) -> np.ndarray:
        w = weights if allowed is None else np.where(allowed, weights, 0.0)
        return rng.choice(len(w), size=size, p=w / w.sum())

    def _draw_within(self, rng, weights: np.ndarray, groups: np.ndarray, want: np.ndarray) -> np.ndarray:
        """For each entry of ``want`` (a group id), a lemma of that group drawn by weight."""
        out = np.empty(len(want), dtype=np.int64)
        for g in np.unique(want):
            sel = want == g
            out[sel] = self._draw(rng, weights, int(sel.sum()), groups == g)
        return out

    def _with_signature(self, rng, sig: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        use = rng.random(len(fallback)) < self.p.signature
        pick = sig[np.arange(len(fallback)), rng.integers(0, sig.shape[1], len(fallback))]
        return np.where(use, pick, fallback)

    def _adjectives(self, rng, cats: np.ndarray, sig: np.ndarray, p_adj: float) -> np.ndarray:
        """An adjective (word id, or -1 for none) per noun: signature with prob ``signature``, else any of the category."""
        fallback = self._draw_within(rng, self.w_adj, self.adj_cat, cats)
        adj = self._with_signature(rng, sig, fallback)
        return np.where(rng.random(len(cats)) < p_adj, self.adj_ids[adj], -1)

    def _noun_phrase(self, rng, lemma: np.ndarray, plural: np.ndarray) -> np.ndarray:
        """[n, 3]: determiner, adjective (or -1), noun form."""
        n = len(lemma)
        ix = self.lex.index
        det_sg = np.array([ix[w] for w in DET_SG + ("the",)])
        det_pl = np.array([ix[w] for w in DET_PL + ("the",)])
        det = np.where(plural, det_pl[rng.integers(0, len(det_pl), n)], det_sg[rng.integers(0, len(det_sg), n)])
        adj = self._adjectives(rng, self.noun_cat[lemma], self.noun_sig_adj[lemma], 0.5)  # noun categories index ADJ_CATEGORIES alike
        form = self.noun_forms[lemma, plural.astype(int) if self.forms["noun"] == 2 else 0]
        return np.stack([det, adj, form], axis=1)

    def _plural(self, rng, n: int) -> np.ndarray:
        return rng.random(n) < 0.5 if self.forms["noun"] == 2 else np.zeros(n, bool)

    def _subject(self, rng, n: int) -> tuple[np.ndarray, np.ndarray]:
        """[n, 3] subject phrases (animal nouns or persons) and the gender of each (-1 = not a person)."""
        ix = self.lex.index
        animals = np.flatnonzero(self.noun_cat == ADJ_CATEGORIES.index("animal"))
        is_person = rng.random(n) < 0.4
        a_lemma = animals[self._draw(rng, self.w_noun[animals], n)]
        out = self._noun_phrase(rng, a_lemma, self._plural(rng, n))
        k = int(is_person.sum())
        if k:
            lemma = self._draw(rng, self.w_person, k)
            female = rng.random(k) < 0.5 if self.forms["person"] == 2 else np.zeros(k, bool)
            adj = self._adjectives(rng, np.full(k, ADJ_CATEGORIES.index("person")), self.person_sig_adj[lemma], 0.5)
            out[is_person] = np.stack([np.full(k, ix["the"]), adj, self.person_forms[lemma, female.astype(int) if self.forms["person"] == 2 else 0]], axis=1)
            gender = np.full(n, -1)
            gender[is_person] = female.astype(int)
            return out, gender
        return out, np.full(n, -1)

    def _verb(self, rng, lemma: np.ndarray, past: np.ndarray) -> np.ndarray:
        return self.verb_forms[lemma, past.astype(int) if self.forms["verb"] == 2 else 0]

    def _time(self, rng, past: np.ndarray, p: float = 0.5) -> np.ndarray:
        ix = self.lex.index
        pres = np.array([ix[w] for w in TIME["present"]])
        pst = np.array([ix[w] for w in TIME["past"]])
        n = len(past)
        t = np.where(past, pst[rng.integers(0, 3, n)], pres[rng.integers(0, 3, n)])
        return np.where(rng.random(n) < p, t, -1)

    def _tense(self, rng, n: int) -> np.ndarray:
        return rng.random(n) < 0.5 if self.forms["verb"] == 2 else np.zeros(n, bool)

    # --- frames ----------------------------------------------------------------------
    def transitive(self, rng, n: int) -> np.ndarray:
        """subject verb object [near the building] [time]: the object drawn by Zipf weight, the verb by the object."""
        ix = self.lex.index
        objects = np.flatnonzero(self.is_object)
        obj = objects[self._draw(rng, self.w_noun[objects], n)]
        verb = self._with_signature(rng, self.noun_sig_verb[obj], self._draw_within(rng, self.w_verb, self.verb_obj, self.obj_cat[obj]))
        past = self._tense(rng, n)
        subj, gender = self._subject(rng, n)
        obj_np = self._noun_phrase(rng, obj, self._plural(rng, n))
        poss = np.where(gender == 1, ix["her"], ix["his"])
        obj_np[:, 0] = np.where((gender >= 0) & (rng.random(n) < 0.8), poss, obj_np[:, 0])
        buildings = np.flatnonzero(self.noun_cat == ADJ_CATEGORIES.index("building"))
        b = buildings[self._draw(rng, self.w_noun[buildings], n)]
        place = np.concatenate([np.array([ix[w] for w in PREPS])[rng.integers(0, len(PREPS), n), None], self._noun_phrase(rng, b, self._plural(rng, n))], axis=1)
        place[rng.random(n) >= 0.3] = -1
        return np.concatenate([subj, self._verb(rng, verb, past)[:, None], obj_np, place, self._time(rng, past)[:, None]], axis=1)

    def geographic(self, rng, n: int) -> np.ndarray:
        """Country and city frames; a pair's two words share its signature foods (and meet in 'X is the capital of Y')."""
        ix = self.lex.index
        pair = self._draw(rng, self.w_geo, n)
        frame = rng.integers(0, 5, n)
        country, city = self.geo_forms[pair, 0], self.geo_forms[pair, 1]
        food = self.noun_forms[self._with_signature(rng, self.geo_sig_food[pair], self.geo_sig_food[pair, 0]), 0]
        past = self._tense(rng, n)
        travel = np.flatnonzero(self.verb_obj == len(OBJECT_CATEGORIES))
        verb = self._verb(rng, travel[self._draw(rng, self.w_verb[travel], n)], past)
        subj, _ = self._subject(rng, n)
        time = self._time(rng, past)
        frames = [
            ("the", "nation", "of", country, "is", "known", "for", "its", food),
            (subj[:, 0], subj[:, 1], subj[:, 2], verb, "across", country, time),
            ("the", "city", "of", city, "is", "known", "for", "its", food),
            (subj[:, 0], subj[:, 1], subj[:, 2], verb, "to", city, time),
            (city, "is", "the", "capital", "of", country),
        ]
        row = np.full((n, 9), -1)
        for f, cols in enumerate(frames):
            sel = frame == f
            for j, c in enumerate(cols):
                row[sel, j] = ix[c] if isinstance(c, str) else c[sel]
        return row

    def sentences(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """int32 token ids of ``n`` sentences, each ended by </s> (id 0)."""
        n_geo = int(rng.binomial(n, 0.2))
        rows = [self.transitive(rng, n - n_geo), self.geographic(rng, n_geo)]
        width = max(r.shape[1] for r in rows)
        grid = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1])), constant_values=-1) for r in rows])
        grid = grid[rng.permutation(n)]
        grid = np.concatenate([grid, np.full((n, 1), EOS_ID)], axis=1)
        return grid[grid >= 0].astype(np.int32)

    # --- ground truth -------------------------------------------------------------------
    def relation_pairs(self) -> dict[str, np.ndarray]:
        out = {}
        rel = set(self.p.relations)
        if "singular_plural" in rel:
            out["singular_plural"] = self.noun_forms[:, :2]
        if "verb_past" in rel:
            out["verb_past"] = self.verb_forms[:, :2]
        if "male_female" in rel:
            out["male_female"] = self.person_forms[:, :2]
        if "country_capital" in rel:
            out["country_capital"] = self.geo_forms
        return out

    def analogies(self, rng, pairs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per relation, up to ``analogies_per_relation`` questions [a, b, c, d] over two different lemmas."""
        out = {}
        for name, pr in pairs.items():
            m = len(pr)
            ij = np.array([(i, j) for i in range(m) for j in range(m) if i != j])
            if len(ij) > self.p.analogies_per_relation:
                ij = ij[np.sort(rng.choice(len(ij), self.p.analogies_per_relation, replace=False))]
            out[name] = np.concatenate([pr[ij[:, 0]], pr[ij[:, 1]]], axis=1)
        return out

    def similarity(self, rng, pairs: dict[str, np.ndarray]) -> list[tuple[int, int, float]]:
        """Graded pairs: 3 forms of one lemma, 2 same-category nouns, 1 different-category nouns, 0 noun vs verb/adjective."""
        k = self.p.similarity_pairs
        cat = np.array(self.lex.category)
        pos = np.array(self.lex.pos)
        nouns = np.flatnonzero(pos == POS.index("NOUN"))
        nouns = nouns[cat[nouns] >= 0]
        others = np.flatnonzero(np.isin(pos, [POS.index("VERB"), POS.index("ADJ")]))
        others = others[others > len(FUNCTION_POS)]
        out = []
        forms = np.concatenate(list(pairs.values())) if pairs else np.zeros((0, 2), int)
        if len(forms):
            for r in rng.choice(len(forms), min(k, len(forms)), replace=False):
                out.append((int(forms[r, 0]), int(forms[r, 1]), 3.0))
        seen = set()
        lemma_of = {}
        for f in forms:
            lemma_of[int(f[0])] = lemma_of[int(f[1])] = (int(f[0]), int(f[1]))
        for grade, same in ((2.0, True), (1.0, False)):
            got = 0
            for _ in range(200 * k):
                if got == k:
                    break
                a, b = rng.choice(nouns, 2, replace=False)
                if (cat[a] == cat[b]) != same or lemma_of.get(int(a), a) == lemma_of.get(int(b), b) or (a, b) in seen:
                    continue
                seen.add((a, b))
                out.append((int(a), int(b), grade))
                got += 1
        for a, b in zip(rng.choice(nouns, k), rng.choice(others, k)):
            out.append((int(a), int(b), 0.0))
        return out


@SOURCES.register("grammar")
class GrammarCorpus(TextSource):
    """A procedural corpus from a probabilistic grammar with planted categories, relations and Zipf frequencies."""

    Params = GrammarParams

    def __init__(self, params, seed: int):
        super().__init__(params, seed)
        self._built = None

    def _build(self):
        if self._built is None:
            p = self.params
            g = Grammar(p, self.seed)
            raw = {s: g.sentences(n, np.random.default_rng(np.random.SeedSequence([self.seed, 0x6B, i])))
                   for i, (s, n) in enumerate(zip(SPLITS, (p.n_train, p.n_val, p.n_test)))}
            counts = np.bincount(raw["train"], minlength=len(g.lex.words))
            # ids by decreasing training frequency (</s> first), ties by word
            order = np.array([0] + sorted(range(1, len(g.lex.words)), key=lambda i: (-counts[i], g.lex.words[i])))
            new_id = np.empty_like(order)
            new_id[order] = np.arange(len(order))
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, 0x6C]))
            pairs = g.relation_pairs()
            analogies = g.analogies(rng, pairs)
            sims = g.similarity(rng, pairs)
            words = [g.lex.words[i] for i in order]
            info = TextInfo(
                vocab=words, counts=counts[order].tolist(),
                tags={"pos": [g.lex.pos[i] if i else -1 for i in order], "category": [g.lex.category[i] for i in order]},
                tag_names={"pos": list(POS), "category": list(CATEGORIES)},
                analogies={k: [[g.lex.words[i] for i in q] for q in v] for k, v in analogies.items()},
                analogy_total=sum(len(v) for v in analogies.values()),
                similarity=[[g.lex.words[a], g.lex.words[b], s] for a, b, s in sims], similarity_total=len(sims),
                relations={k: [[g.lex.words[a], g.lex.words[b]] for a, b in v] for k, v in pairs.items()},
            )
            self._built = {s: new_id[t].astype(np.int32) for s, t in raw.items()}, info, g
        return self._built

    @property
    def grammar(self) -> Grammar:
        return self._build()[2]

    def info(self) -> TextInfo:
        return self._build()[1]

    def split(self, name: str) -> TokenSplit:
        return TokenSplit(self._build()[0][name])
