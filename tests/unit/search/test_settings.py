"""Every setting is declared once: the parser and --help come from the dataclass fields, and so does a new flag."""
from __future__ import annotations

import argparse
import io
import re
from contextlib import redirect_stdout
from dataclasses import dataclass, fields

import pytest

from search.config import SearchConfig
from search.errors import ConfigError
from search.run import parse_args
from search.settings import add_flags, flag_name, given, setting


def parse_help() -> str:
    """python -m search.run --help's text, as printed."""
    with pytest.raises(SystemExit), redirect_stdout(io.StringIO()) as out:
        parse_args(["--help"])
    return out.getvalue()


def test_every_flag_of_the_search_is_a_field_and_help_shows_the_fields_default():
    text = parse_help()
    declared = {flag_name(f.name) for f in fields(SearchConfig) if "group" in f.metadata}
    listed = set(re.findall(r"^  (--[a-z-]+)", text, re.M)) - {"--help", "--smoke-test", "--green", "--num-classes", "--split-lists"}  # + a preset, the loaders'
    assert listed == declared and len(declared) == 47
    assert "(default 6)" in text and "(default auto)" in text and "--no-final-baseline" in text


def test_a_flag_left_out_takes_the_dataclass_default_and_a_given_one_is_parsed_by_its_field():
    cfg = parse_args(["--max-epochs", "3", "--patch-size", "auto", "--depths", "2,3", "--lr", "0.01"])
    assert (cfg.max_epochs, cfg.patch_size, cfg.depths, cfg.lr) == (3, 0, (2, 3), 0.01)
    assert (cfg.batch_size, cfg.seed, cfg.final_baseline) == (SearchConfig.batch_size, 0, True)
    assert parse_args(["--no-final-baseline"]).final_baseline is False
    assert parse_args(["--space", "ablation", "--skips", "10,11", "--repeats", "2"]).skips == ("10", "11")  # the ablation's own settings
    assert parse_args(["--strategy", "supernet", "--space", "arch", "--supernet-warmup", "1"]).supernet_warmup == 1  # the supernet's


def test_a_new_setting_is_one_field_and_its_flag_follows():
    @dataclass
    class Planted:
        widths: tuple[int, ...] = setting((8,), "widths to try", "search", parse=lambda t: tuple(int(x) for x in t.split(",")))
        budget: float = setting(1.5, "hours")
        verbose: bool = setting(False, "say more")

    p = argparse.ArgumentParser()
    add_flags(p, Planted)
    assert Planted(**given(Planted, p.parse_args(["--widths", "4,16", "--verbose"]))) == Planted((4, 16), 1.5, True)
    assert "(default 1.5)" in p.format_help()


@pytest.mark.parametrize("argv, message", [
    (["--patch-size", "big"], "--patch-size 'big': give a number of pixels or auto"),
    (["--depths", "2,x"], "--depths '2,x': give whole numbers separated by commas"),
    (["--green"], "--green applies to the datasets drive; synthetic does not take it"),
    (["--dataset", "pet", "--num-classes", "2", "--data-root", "."], "--num-classes applies to the datasets drive, isic, folder; pet has its own classes"),
    (["--loss", "nope"], "unknown loss 'nope': choose one of dice, bce"),
])
def test_bad_values_are_one_line_config_errors(argv, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as raised:
        parse_args(argv)
    assert "\n" not in str(raised.value)
