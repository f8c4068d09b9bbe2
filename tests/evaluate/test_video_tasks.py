"""Task accuracies with oracle heads: 1 for a head that knows the answer, about 0.5 for a guess."""
import torch

from sslpipe.evaluate.video_tasks import arrow_of_time_accuracy, frame_order_accuracy


def _counting_clips(n=40, t=8):
    """Frame t of every clip shows the value t / T: the order is readable from the pixels."""
    return (torch.arange(t).float() / t).view(1, t, 1, 1, 1).expand(n, t, 1, 4, 4).clone()


def test_arrow_of_time_accuracy_with_oracles():
    clips = _counting_clips()
    knows = lambda c: c[:, -1].mean((1, 2, 3)) - c[:, 0].mean((1, 2, 3))  # noqa: E731  brightening = forwards
    assert arrow_of_time_accuracy(knows, clips) == 1.0
    assert arrow_of_time_accuracy(lambda c: -knows(c), clips) == 0.0
    assert arrow_of_time_accuracy(lambda c: torch.ones(len(c)), clips) == 0.5  # always 'forwards'


def test_frame_order_accuracy_with_oracles():
    clips = _counting_clips(200)

    def knows(tuples):  # in order iff the middle frame's value lies between the endpoints'
        v = tuples.mean((2, 3, 4))
        return ((v[:, 1] - v[:, 0]) * (v[:, 2] - v[:, 1]) > 0).float() * 2 - 1

    assert frame_order_accuracy(knows, clips) == 1.0
    guess = frame_order_accuracy(lambda t: torch.ones(len(t)), clips)
    assert 0.35 < guess < 0.65  # half the tuples are negatives
    assert frame_order_accuracy(knows, clips, seed=1) == 1.0
