"""Every config field is a flag: derived from artgan/config.py, validated, listed by --help."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from artgan import cli
from artgan.cli import run as run_command
from artgan.cli.config_flags import field_comments, flag_name
from artgan.config import (
    DataConfig,
    EvalConfig,
    KubeflowConfig,
    PipelineConfig,
    ServingConfig,
    TrainConfig,
)
from artgan.errors import ArtganError
from artgan.serving.seeds import format_int_ranges, resolve_labels

SECTIONS = {"data": DataConfig, "train": TrainConfig, "eval": EvalConfig}


def parse(*argv: str) -> PipelineConfig:
    return run_command.config_from_args(cli.build_parser().parse_args(["run", *argv]))


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_field_has_a_flag_with_help(section, capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["run", "--help"])
    help_text = capsys.readouterr().out
    for field in dataclasses.fields(SECTIONS[section]):
        assert flag_name(section, field.name) in help_text, field.name
        assert field_comments(SECTIONS[section]).get(field.name), f"{section}.{field.name}"


def test_no_flags_is_the_default_config():
    assert parse() == PipelineConfig()


def test_flags_reach_their_fields():
    config = parse(
        "--loss", "hinge",
        "--architecture", "resnet",
        "--augment", "translation,cutout",
        "--augment-adaptive",
        "--no-conditional",
        "--generator-width", "32",
        "--r1-gamma", "0.5",
        "--fid-threshold", "25",
        "--fid-max-over-floor", "none",
        "--kid-margin", "2.5",
        "--eval-seed", "7",
        "--seed", "3",
        "--kid-max-rows", "500",
        "--eval-percent", "10",
        "--beam-arg=--direct_num_workers=2",
        "--max-batch-size", "64",
    )  # fmt: skip
    train, evaluation = config.train, config.eval
    assert (train.loss, train.architecture, train.augment) == (
        "hinge",
        "resnet",
        "translation,cutout",
    )
    assert train.augment_adaptive and not train.conditional
    assert (train.generator_width, train.r1_gamma, train.seed) == (32, 0.5, 3)
    assert evaluation.fid_threshold == 25 and evaluation.fid_max_over_floor is None
    assert evaluation.kid_margin == 2.5
    assert (evaluation.seed, evaluation.kid_max_rows) == (7, 500)
    assert config.data.eval_percent == 10
    assert config.beam_args == ("--direct_num_workers=2",)
    assert config.serving.max_batch_size == 64


def test_a_bad_choice_names_the_flag_and_the_choices(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--loss", "wasserstein"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--loss" in err and "hinge" in err and "Traceback" not in err


def test_a_bad_value_is_caught_by_the_config_with_its_field(tmp_path, capsys):
    code = cli.main(["run", "--augment", "zoom", "--home", str(tmp_path)])
    assert code == 2
    assert "train.augment" in capsys.readouterr().err


def test_a_negative_copy_rate_gate_names_its_field(tmp_path, capsys):
    code = cli.main(["run", "--max-copy-rate", "-0.1", "--home", str(tmp_path)])
    assert code == 2
    assert "eval.max_copy_rate must be >= 0" in capsys.readouterr().err


def test_a_learning_rate_ramp_down_beyond_the_whole_run_names_its_field(tmp_path, capsys):
    code = cli.main(["run", "--learning-rate-ramp-down", "1.5", "--home", str(tmp_path)])
    assert code == 2
    assert "train.learning_rate_ramp_down must be in [0, 1], got 1.5" in capsys.readouterr().err


def test_kubeflow_compile_takes_every_section(tmp_path):
    args = cli.build_parser().parse_args(
        ["kubeflow", "compile", "--loss", "hinge", "--kid-threshold", "4", "--trainer-gpus", "1"]
    )
    config = run_command.config_from_args(args)
    assert config.train.loss == "hinge" and config.eval.kid_threshold == 4
    assert config.kubeflow == dataclasses.replace(KubeflowConfig(), trainer_gpus=1)
    assert config.serving == ServingConfig()


def test_verbose_works_before_and_after_the_subcommand():
    parser = cli.build_parser()
    assert parser.parse_args(["-v", "mlmd", "runs"]).verbose is True
    assert parser.parse_args(["mlmd", "runs", "-v"]).verbose is True
    assert parser.parse_args(["run", "-v"]).verbose is True
    assert parser.parse_args(["run"]).verbose is False


def test_python_dash_m_artgan_is_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "artgan", "run", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "--discriminator-width" in result.stdout


@pytest.mark.parametrize("labels", [[0, 1, 2, 3], [5], [0, 1, 2, 0, 1, 7, 9, 8], []])
def test_label_ranges_print_as_generate_reads_them(labels):
    text = format_int_ranges(labels)
    assert (resolve_labels(text, None) if labels else []) == labels
    assert format_int_ranges(list(range(10)) + list(range(6))) == "0-9,0-5"


EMOJI_CLASSES = [
    "flags-country_flag",
    "smileys_and_emotion-heart",
    "smileys_and_emotion-face_smiling",
]


def test_labels_name_classes_by_full_name_or_a_part_only_one_name_holds():
    looked_up = []

    def names():
        looked_up.append(1)
        return EMOJI_CLASSES

    assert resolve_labels("0-1,smileys_and_emotion-heart,FLAG,smiling,2", names) == [
        0,
        1,
        1,
        0,
        2,
        2,
    ]
    assert looked_up == [1]  # once, however many names
    resolve_labels("0-2", lambda: pytest.fail("numbers need no names"))
    with pytest.raises(ArtganError, match=r"'smileys' fits 2 classes: 1=smileys_and_emotion-heart"):
        resolve_labels("smileys", names)
    with pytest.raises(ArtganError, match=r"'cat' is no class of this model \(3 classes: flags-"):
        resolve_labels("cat", names)
    with pytest.raises(ArtganError, match="--model-base-path"):
        resolve_labels("heart", None)
    with pytest.raises(ArtganError, match="runs backwards"):
        resolve_labels("3-1", names)
    with pytest.raises(ArtganError, match="'' is not N or N-M"):
        resolve_labels("0,,1", names)
