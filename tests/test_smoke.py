from sslpipe.config import load
from sslpipe.methods.base import METHODS
from sslpipe.smoke import FAMILY_SAMPLE, SMOKE_SEEDS, restrict_runs


def test_family_sample_holds_one_method_of_every_family():
    families = {METHODS.get(m).family for m in METHODS.names()}
    assert {METHODS.get(m).family for m in FAMILY_SAMPLE} == families


def test_restrict_runs_keeps_only_those_methods_and_the_comments(tmp_path):
    src = (__import__("pathlib").Path(__file__).parents[1] / "params.yaml").read_text()
    p = tmp_path / "params.yaml"
    p.write_text(src)
    restrict_runs(p, {"random_init", "simclr"})
    cfg = load(p)
    assert {r.method for r in cfg.runs()} == {"random_init", "simclr"}
    assert "single source of every parameter" in p.read_text()


def test_restrict_runs_keeps_only_those_seeds_of_the_entries_that_list_seeds(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text((__import__("pathlib").Path(__file__).parents[1] / "params.yaml").read_text())
    before = load(p)
    restrict_runs(p, None, seeds={0, 1})
    after = load(p)
    assert {r.method for r in after.runs()} == {r.method for r in before.runs()}  # every method kept
    base = lambda cfg: sorted((r.dataset, r.seed) for r in cfg.runs() if r.method == "random_init")  # noqa: E731
    assert {s for _, s in base(before)} > {0, 1}  # the committed study has more baseline seeds
    assert base(after) == sorted((d, s) for d in before.study.datasets for s in (0, 1))
    assert {r.key for r in after.runs()} == {r.key for r in before.runs() if r.method != "random_init" or r.seed in (0, 1)}


def test_restrict_runs_keeps_more_than_one_seed_only_on_the_seed_datasets(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text((__import__("pathlib").Path(__file__).parents[1] / "params.yaml").read_text())
    before = load(p)
    restrict_runs(p, None, seeds={0, 1}, seed_datasets={"dsprites"})
    base = sorted((r.dataset, r.seed) for r in load(p).runs() if r.method == "random_init")
    assert base == sorted([("dsprites", 0), ("dsprites", 1)] + [(d, 0) for d in before.study.datasets if d != "dsprites"])


def test_restrict_runs_keeps_only_the_given_datasets(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text((__import__("pathlib").Path(__file__).parents[1] / "params.yaml").read_text())
    before = load(p)
    keep = set(before.study.datasets) - {"movingsprites_textured", "grammar"}
    restrict_runs(p, None, datasets=keep)
    after = load(p)
    assert list(after.study.datasets) == [d for d in before.study.datasets if d in keep]
    assert {r.key for r in after.runs()} == {r.key for r in before.runs() if r.dataset in keep}
    assert "movingsprites-random_init" in {r.key for r in after.runs()}  # an entry listing several datasets keeps the others


def test_the_smoke_study_keeps_three_baseline_seeds_per_dataset(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text((__import__("pathlib").Path(__file__).parents[1] / "params.yaml").read_text())
    restrict_runs(p, FAMILY_SAMPLE, SMOKE_SEEDS)
    cfg = load(p)
    assert sorted((r.dataset, r.seed) for r in cfg.runs() if r.method == "random_init") == \
        sorted((d, s) for d in cfg.study.datasets for s in (0, 1, 2))
