"""The word map draws every category in its own colour."""
import numpy as np

from sslpipe.plots.words import word_map


def test_word_map_has_one_series_per_category_and_other(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.array([-1, 0, 0, 1, 2, -1, 1])
    fig = word_map(rng.normal(size=(7, 2)), [f"w{i}" for i in range(7)], labels, ["animal", "food", "tool"], "skipgram")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["other", "animal", "food", "tool"]
    assert sum(len(c.get_offsets()) for c in ax.collections) == 7
    assert [t.get_text() for t in ax.texts] == [f"w{i}" for i in range(7)]  # the words in frequency order, all under 25
    fig.savefig(tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 1000
