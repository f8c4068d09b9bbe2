"""The code-version hash that joins a stage's resume key: stable, and sensitive to exactly the named sources."""
import re

import pytest

from sslpipe.core.codeversion import source_hash


@pytest.fixture
def package(tmp_path):
    root = tmp_path / "pkg"
    for rel, text in {"methods/__init__.py": "", "methods/simclr.py": "A = 1\n", "train.py": "B = 2\n", "report.py": "C = 3\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_the_hash_is_stable_and_ignores_what_is_not_named_or_not_source(package):
    h = source_hash("methods", "train.py", root=package)
    assert re.fullmatch(r"[0-9a-f]{64}", h) and h == source_hash("train.py", "methods", root=package)
    (package / "report.py").write_text("C = 4\n")  # not a dependency
    (package / "methods" / "__pycache__").mkdir()
    (package / "methods" / "__pycache__" / "simclr.cpython-311.pyc").write_bytes(b"\0")
    (package / "methods" / "notes.txt").write_text("x")
    assert source_hash("methods", "train.py", root=package) == h


@pytest.mark.parametrize("change", ["edit", "add", "rename", "delete"])
def test_any_change_to_a_named_source_changes_the_hash(package, change):
    h = source_hash("methods", "train.py", root=package)
    m = package / "methods"
    {"edit": lambda: (m / "simclr.py").write_text("A = 2\n"),
     "add": lambda: (m / "byol.py").write_text(""),
     "rename": lambda: (m / "simclr.py").rename(m / "simclr2.py"),
     "delete": lambda: (package / "train.py").unlink()}[change]()
    if change == "delete":
        with pytest.raises(FileNotFoundError, match="train.py"):
            source_hash("methods", "train.py", root=package)
    else:
        assert source_hash("methods", "train.py", root=package) != h


def test_an_unknown_part_is_refused(package):
    with pytest.raises(FileNotFoundError, match="method"):
        source_hash("method", root=package)


def test_parts_may_be_named_as_a_stage_declares_its_code(package):
    assert source_hash("pkg/methods", "pkg/train.py", root=package) == source_hash("methods", "train.py", root=package)


def test_the_package_hashes_the_code_its_stages_declare():
    from sslpipe.stages.pretrain import STAGE

    a = source_hash(*STAGE.code)
    assert a == source_hash(*reversed(STAGE.code))
    assert a != source_hash(*STAGE.code[:-1])
