"""``prepare``'s options come from the registered steps' settings, and reach a Typer command."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import typer
from typer.testing import CliRunner

from emobench.prepare.apex import apex_strategy_names
from emobench.prepare.options import prepare_options, with_step_options
from emobench.prepare.step import PrepareStep, StepSettings, option, ordered_steps


def test_options_are_the_steps_settings_fields_once_each() -> None:
    options = {o.key: o for o in prepare_options()}
    assert options["frames"].steps == ("frames", "apex")  # one --frames sets both
    assert options["size"].steps == ("frames", "apex")
    assert options["stride"].steps == ("frames",)
    assert (options["frames"].type, options["frames"].default) == (int, 8)
    apex = options["apex"]
    assert apex.name == "apex" and apex.steps == ("apex",) and apex.default == "annotated"
    assert apex.choices == tuple(apex_strategy_names())
    assert "Choices: annotated, motion, motion-flow" in apex.help_text
    assert options["face_margin"].name == "face-margin" and options["face_margin"].type is float
    assert not any("eyes" in o.steps for o in options.values())  # no help text: not options


@dataclass(frozen=True)
class _BlurSettings(StepSettings):
    sigma: float = option(1.5, "Blur sigma in px.", name="blur-sigma", minimum=0.0)
    keep_colour: bool = option(True, "Keep colour.")


class _BlurStep(PrepareStep):
    name = "blur"
    settings = _BlurSettings
    order = 99


def test_a_new_steps_options_appear_without_editing_anything() -> None:
    options = {o.key: o for o in prepare_options([*ordered_steps(), _BlurStep()])}
    assert options["blur_sigma"].name == "blur-sigma" and options["blur_sigma"].default == 1.5
    assert options["keep_colour"].type is bool and options["keep_colour"].steps == ("blur",)


def test_two_steps_disagreeing_on_an_option_is_refused() -> None:
    @dataclass(frozen=True)
    class Other(StepSettings):
        frames: int = option(16, "Frames.")

    class OtherStep(PrepareStep):
        name = "other"
        settings = Other

    with pytest.raises(ValueError, match="--frames: step 'other' declares it as int = 16"):
        prepare_options([*ordered_steps(), OtherStep()])


def test_with_step_options_wires_them_into_a_typer_command() -> None:
    app = typer.Typer()
    seen: dict = {}

    @app.command()
    @with_step_options
    def prepare(dataset: str, strict: bool = False, step_options: dict | None = None) -> None:
        seen.update(dataset=dataset, strict=strict, options=step_options)

    runner = CliRunner()
    args = ["emer", "--frames", "4", "--apex", "motion", "--face-margin", "0.2", "--strict"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert seen["dataset"] == "emer" and seen["strict"] is True
    assert seen["options"]["frames"] == 4 and seen["options"]["apex"] == "motion"
    assert seen["options"]["face_margin"] == pytest.approx(0.2)
    assert seen["options"]["stride"] is None  # not given: the step's or the dataset's default
    assert set(seen["options"]) == {o.key for o in prepare_options()}
    assert runner.invoke(app, ["emer", "--frames", "many"]).exit_code == 2
    helped = runner.invoke(app, ["--help"], terminal_width=200)
    assert "--face-detect-side" in helped.output and "--stride" in helped.output
