"""The README documents what the code accepts: keep the two in agreement."""

from pathlib import Path

from emobench.datasets.emer import LABEL_COLUMNS
from emobench.datasets.tobii import ACCEPTED_COLUMNS
from emobench.models.registry import model_names
from emobench.protocols import protocol_names

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_accepted_eye_column_is_documented():
    for spellings in ACCEPTED_COLUMNS.values():
        for spelling in spellings:
            assert f"`{spelling}`" in README, spelling


def test_every_label_column_is_documented():
    for spellings in LABEL_COLUMNS.values():
        for spelling in spellings:
            assert f"`{spelling}`" in README, spelling


def test_every_model_and_protocol_is_documented():
    for name in model_names():
        assert f"| `{name}` |" in README, name
    for name in protocol_names():
        assert f"| {name} |" in README, name


def test_quick_start_commands_are_marked_for_ci():
    for marker in ("main-command", "test-command"):
        block = README.split(f"<!-- {marker} -->")[1].split(f"<!-- /{marker} -->")[0]
        assert "pip install torch==2.13.0 -e '.[test]' && " in block
