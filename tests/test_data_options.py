"""The ingestion options (fit, background, pixel limit, anomalies) from CLI flags to DataConfig."""

from __future__ import annotations

import pytest

from artgan import cli
from artgan.config import DataConfig
from artgan.errors import ArtganError


def test_run_flags_reach_the_data_config():
    args = cli.build_parser().parse_args(
        [
            "run",
            "--fit",
            "pad",
            "--background",
            "#102030",
            "--max-pixels",
            "4096",
            "--stop-on-anomalies",
            "--transform-statistics",
        ]
    )
    data = cli.run.config_from_args(args).data
    assert data.transform_statistics
    assert (data.fit, data.background, data.max_pixels, data.stop_on_anomalies) == (
        "pad",
        "#102030",
        4096,
        True,
    )
    assert data.background_rgb() == (16, 32, 48)


def test_defaults_crop_on_white_and_report_anomalies():
    args = cli.build_parser().parse_args(["run"])
    assert cli.run.config_from_args(args).data == DataConfig()
    assert DataConfig().background_rgb() == (255, 255, 255)
    assert DataConfig().fit == "crop" and not DataConfig().stop_on_anomalies


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (["--background", "white"], ["data.background", "'white'", "#ffffff"]),
        (["--max-pixels", "0"], ["data.max_pixels", "0"]),
    ],
)
def test_bad_values_are_clean_errors_naming_the_field(tmp_path, capsys, flags, fragments):
    code = cli.main(["run", "--home", str(tmp_path / "home"), *flags])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


def test_unknown_fit_names_the_choices():
    with pytest.raises(ArtganError, match="data.fit must be one of crop, pad, got 'squash'"):
        DataConfig(fit="squash").validate()
