"""Every stage that reads shards verifies them first: a corrupted test shard stops evaluate, named, before any metric."""
from __future__ import annotations

import torch
import yaml

from sslpipe.cli import main
from tests.conftest import tiny_toy_study

RAW = tiny_toy_study("verified")


def test_a_corrupted_test_shard_stops_evaluate_with_its_name(tmp_path, monkeypatch, capsys):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(RAW))
    threads = torch.get_num_threads()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        for cmd in (["init-tracking"], ["shard", "toy"], ["pretrain", "toy", "random_init"]):
            assert main(cmd) == 0, cmd
        shard = sorted((tmp_path / "data/shards/toy").glob("test-*.tar"))[0]
        data = bytearray(shard.read_bytes())
        data[len(data) // 2] ^= 0xFF
        shard.chmod(0o644)
        shard.write_bytes(bytes(data))
        capsys.readouterr()
        assert main(["evaluate", "toy", "random_init"]) == 2
    finally:
        torch.set_num_threads(threads)
    err = capsys.readouterr().err
    assert f"data/shards/toy/{shard.name}" in err and "Fix:" in err, err
    assert not (tmp_path / "metrics/toy/random_init.json").exists()
