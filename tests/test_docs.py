"""The docs say what the code does: the commands they show run, the study keys they name exist.

Commands come from README.md and docs/*.md: every line of a bash code block,
every `$ ` line of an output block, and inline `vae-tune ...` / `python ...`
spans. Each `vae-tune` command is checked against the CLI's parser, its
subcommand's `--help` is run, a `run` or `show` resolves its study as `show`
does, a quoted error is the one the code prints, and (slow) the commands on an
experiment run on a tiny one. Each `python -m` module and script the docs name
answers `--help`.
"""

import argparse
import dataclasses
import re
import runpy
import shlex
import shutil
import sys
import typing
from pathlib import Path

import pytest
from stand_in_photos import photo, write_pairs

from vae_tune import config
from vae_tune.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SECTIONS = {name: cls for name, cls in typing.get_type_hints(config.StudyConfig).items() if dataclasses.is_dataclass(cls)}
# Fields that are not study keys: model.image_size is copied from data.image_size.
DERIVED = {"model.image_size"}


def _blocks(text: str):
    """(language, [(line number, line)]) of each fenced code block."""
    block, language = None, ""
    for number, line in enumerate(text.splitlines(), 1):
        fence = re.match(r"\s*```(\S*)", line)
        if fence and block is None:
            block, language = [], fence[1]
        elif fence:
            yield language, block
            block = None
        elif block is not None:
            block.append((number, line))


def shell_commands() -> list[tuple[str, str]]:
    """(where, command): every command line of a bash block (continuations joined) and every `$ ` line of a plain one."""
    found = []
    for doc in DOCS:
        for language, lines in _blocks(doc.read_text()):
            pending = ""
            for number, line in lines:
                if language in ("bash", "sh", "shell"):
                    text = pending + line.strip()
                elif language in ("", "console", "text") and line.startswith("$ "):
                    text = line[2:].strip()
                else:
                    continue
                if text.endswith("\\"):
                    pending = text[:-1] + " "
                    continue
                pending = ""
                if text and not text.startswith("#"):
                    found.append((f"{doc.name}:{number}", text))
    return found


def inline_commands() -> list[tuple[str, str]]:
    """(where, span) of each inline code span that is a vae-tune or python command."""
    return [(f"{doc.name}:{number}", span)
            for doc in DOCS for number, line in enumerate(doc.read_text().splitlines(), 1)
            for span in re.findall(r"(?<!`)`([^`]+)`(?!`)", line) if re.match(r"(vae-tune|python3?) ", span)]


def vae_tune_args(command: str) -> list[str] | None:
    """The arguments after `vae-tune` in a shell command (one inside `ray job submit ... --`, too), else None."""
    tokens = shlex.split(command, comments=True)
    return tokens[tokens.index("vae-tune") + 1:] if "vae-tune" in tokens else None


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def documented_vae_tune_commands() -> list[tuple[str, str, list[str]]]:
    """(where, subcommand, its --options) of every vae-tune command the docs show, blocks and inline spans."""
    found = []
    for where, command in shell_commands():
        args = vae_tune_args(command)
        if args is not None:
            found.append((where, args[0] if args else "", [a.split("=")[0] for a in args if a.startswith("--")]))
    for where, span in inline_commands():
        words = span.split()
        if words[0] == "vae-tune" and len(words) > 1 and re.fullmatch(r"[a-z]+", words[1]):
            found.append((where, words[1], re.findall(r"--[a-z][\w-]*", span)))
    return found


def documented_errors() -> list[tuple[str, str, str]]:
    """(where, command, error line) of each `$ vae-tune ...` line followed by a `vae-tune: error: ...` line."""
    return [(f"{doc.name}:{number}", line[2:], following)
            for doc in DOCS for _, lines in _blocks(doc.read_text())
            for (number, line), (_, following) in zip(lines, lines[1:])
            if line.startswith("$ vae-tune ") and following.startswith("vae-tune: error: ")]


def test_every_vae_tune_command_in_the_docs_has_a_real_subcommand_and_options():
    parsers, checked = subcommands(), 0
    for where, name, options in documented_vae_tune_commands():
        if name not in parsers:
            pytest.fail(f"{where}: vae-tune {name}: no such command; the CLI has {sorted(parsers)}")
        known = {option for action in parsers[name]._actions for option in action.option_strings}
        unknown = [option for option in options if option not in known]
        assert not unknown, f"{where}: vae-tune {name} has no option {unknown}; it has {sorted(known)}"
        checked += 1
    assert checked >= 60  # 66 on 2026-12-04: the parsing found the docs' commands
    # And the reverse: every command of the CLI is shown somewhere.
    shown = {name for _, name, _ in documented_vae_tune_commands()}
    assert set(parsers) <= shown, sorted(set(parsers) - shown)


def test_every_vae_tune_command_in_a_code_block_parses():
    parser, parsed = build_parser(), 0
    for where, command in shell_commands():
        args = vae_tune_args(command)
        if args is None:
            continue
        try:
            parser.parse_args(args)
        except SystemExit:
            pytest.fail(f"{where}: {command!r} does not parse")
        parsed += 1
    assert parsed >= 14  # 15 on 2026-12-04


def test_every_documented_subcommand_answers_help(capsys):
    shown = {name for _, name, _ in documented_vae_tune_commands()} & set(subcommands())
    assert len(shown) >= 7
    for name in sorted(shown):
        with pytest.raises(SystemExit) as exit_:
            main([name, "--help"])
        assert exit_.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: vae-tune {name} "), name


def test_every_documented_run_resolves_its_study(monkeypatch, capsys):
    """A documented `vae-tune run` or `show` names a study, data and overrides that load: `show` prints them."""
    monkeypatch.chdir(ROOT)  # where the docs' relative study paths start
    parser, resolved, errors = build_parser(), 0, {command for _, command, _ in documented_errors()}
    for where, command in shell_commands():
        args = vae_tune_args(command)
        if not args or args[0] not in ("run", "show") or command in errors:
            continue
        parsed = parser.parse_args(args)
        show = ["show", parsed.study, *(f"--set={override}" for override in parsed.overrides)]
        show += (["--data", parsed.data] if parsed.data else []) + (["--samples", str(parsed.samples)] if parsed.samples else [])
        code = main(show)
        captured = capsys.readouterr()
        assert code == 0 and captured.out.startswith("study "), f"{where}: {command}\n{captured.err}"
        resolved += 1
    assert resolved >= 8  # 8 on 2026-12-04


def test_a_documented_error_is_the_one_the_command_prints(capsys):
    """A `$ vae-tune ...` line followed by `vae-tune: error: ...` in the docs: that command prints that line."""
    errors = documented_errors()
    assert errors
    for where, command, error in errors:
        assert main(vae_tune_args(command)) == 2, where
        assert capsys.readouterr().err == error + "\n", where


def python_entry_points() -> list[tuple[str, str]]:
    """("module" or "script", name) of each `python -m` module and each analysis/ or benchmarks/ script the docs name."""
    text = "\n".join(doc.read_text() for doc in DOCS)
    modules = sorted(set(re.findall(r"python3? -m ([\w.]+)", text)) - {"venv", "pytest", "pip"})
    scripts = sorted({path for name in re.findall(r"(?<![\w/])((?:analysis/|benchmarks/)?\w+\.py)\b", text)
                      for path in (ROOT / name, ROOT / "analysis" / name) if path.is_file()
                      and path.parent.name in ("analysis", "benchmarks") and "argparse" in path.read_text()})
    return [("module", name) for name in modules] + [("script", str(path)) for path in scripts]


def test_every_documented_python_module_and_script_answers_help(monkeypatch, capsys):
    entry_points = python_entry_points()
    names = {Path(name).name for _, name in entry_points}
    assert {"benchmarks", "vae_tune.data.pairs", "score_examples.py", "study_charts.py", "trial_pictures.py"} <= names
    for kind, name in entry_points:
        monkeypatch.setattr(sys, "argv", [name, "--help"])
        with pytest.raises(SystemExit) as exit_:
            if kind == "module":
                runpy.run_module(name, run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(name, run_name="__main__")
        assert exit_.value.code == 0, name
        assert "usage:" in capsys.readouterr().out, name


# --- the commands on an experiment, run on the tiny analysed study -----------------------------------

ON_AN_EXPERIMENT = ("report", "resume", "interpolate", "score")  # confirm retrains: test_baseline.py runs it


@pytest.fixture
def experiment_copy(analysed_study, tmp_path):
    copy = tmp_path / "experiment"
    shutil.copytree(analysed_study["experiment_dir"], copy, ignore=shutil.ignore_patterns("report", "confirm*"))
    return copy


def test_the_documented_commands_on_an_experiment_run(experiment_copy, tmp_path, capsys):
    """Each documented report, resume, interpolate and score command, its paths replaced by a tiny study's."""
    photos = []
    for seed in (1, 2):
        photos.append(tmp_path / f"photo_{seed}.png")
        photo(seed, size=(40, 40)).save(photos[-1])
    pairs = write_pairs(tmp_path / "pairs")
    substitutes = {"experiment_dir": str(experiment_copy), "checkpoint": str(experiment_copy),
                   "source_image": str(photos[0]), "target_image": str(photos[1]), "--pairs": str(pairs)}
    ran = set()
    for where, command in shell_commands():
        args = vae_tune_args(command)
        if not args or args[0] not in ON_AN_EXPERIMENT:
            continue
        parser = subcommands()[args[0]]
        replaced = [args[0], *(substitutes[action.dest] for action in parser._actions if not action.option_strings)]
        for i, token in enumerate(args):
            action = parser._option_string_actions.get(token)
            if action is not None and action.nargs == 0:
                replaced.append(token)
            elif action is not None:
                value = str(tmp_path / Path(args[i + 1]).name) if token == "--out" else substitutes.get(token, args[i + 1])
                replaced += [token, value]
        assert main(replaced) == 0, f"{where}: {command}\nran as {replaced}\n{capsys.readouterr().err}"
        capsys.readouterr()
        if "--out" in args:
            assert (tmp_path / Path(args[args.index("--out") + 1]).name).is_file(), where
        ran.add(args[0])
    assert ran == set(ON_AN_EXPERIMENT)


# --- the study keys docs/studies.md names ---------------------------------------------------------------

STUDIES_DOC = ROOT / "docs" / "studies.md"


def study_keys() -> set[str]:
    """Every key a study file may set: the top-level fields and `section.field` of each section's dataclass."""
    keys = {f.name for f in dataclasses.fields(config.StudyConfig) if f.name not in SECTIONS}
    keys |= {f"{section}.{f.name}" for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
    return keys - DERIVED


# Keys whose value is a table of the user's own entries.
TABLE_KEYS = {f"{section}.{name}" for section, cls in SECTIONS.items()
              for name, hint in typing.get_type_hints(cls).items() if typing.get_origin(hint) is dict}


def test_the_keys_table_has_every_study_key_once_and_no_other():
    text = STUDIES_DOC.read_text()
    table = re.findall(r"^\| `([\w.]+)` \|", text, re.MULTILINE)
    assert len(table) == len(set(table)), sorted(k for k in table if table.count(k) > 1)
    section_keys = {key for key in study_keys() if "." in key} - {"search.space"}  # [search.space] has its own block
    assert set(table) == section_keys, (sorted(set(table) - section_keys), sorted(section_keys - set(table)))
    top_level = re.search(r"At the top level, (.+?)\(where experiments go", text, re.DOTALL)[1]
    assert set(re.findall(r"`(\w+)`", top_level)) == {key for key in study_keys() if "." not in key}


def test_the_sections_block_names_every_key_of_each_section():
    """The TOML block at the top of studies.md: `[section]  # key, key = ... | ..., key (note), ...`."""
    block = next(lines for language, lines in _blocks(STUDIES_DOC.read_text()) if language == "toml")
    named, complete, section = {}, {}, None
    for _, line in block:
        header = re.match(r"\[([\w.]+)\]", line)
        section = header[1] if header else section
        comment = re.sub(r"\([^)]*\)", "", line.partition("#")[2])  # notes in brackets may hold commas
        items = [item.strip() for item in comment.split(",") if item.strip()]
        named.setdefault(section, set()).update(re.match(r"\w+", item)[0] for item in items if item != "...")
        complete[section] = complete.get(section, True) and "..." not in items
    assert set(named) == {*SECTIONS, "search.space"}
    assert named.pop("search.space") == set(config.SEARCHABLE)
    for section, keys in named.items():
        fields = {f"{section}.{key}" for key in keys}
        every = {key for key in study_keys() if key.startswith(f"{section}.")} - {"search.space"}
        assert fields <= every, (section, sorted(fields - every))
        if complete[section]:
            assert fields == every, (section, sorted(every - fields))


def test_every_study_key_the_docs_name_exists():
    """Any `section.key` in studies.md's code (spans and blocks), and any `--set key=` in the docs: a study key."""
    sections = "|".join(SECTIONS)
    keys = study_keys()
    text = STUDIES_DOC.read_text()
    code = re.findall(r"`([^`\n]+)`", text) + ["\n".join(line for _, line in lines) for _, lines in _blocks(text)]
    named = [(STUDIES_DOC.name, key) for snippet in code
             for key in re.findall(rf"(?<![\w./-])((?:{sections})\.\w+(?:\.\w+)?)(?![\w/-])", snippet)]
    top_level = "|".join(key for key in keys if "." not in key)  # not `--set key=value`, a synopsis
    named += [(doc.name, key) for doc in DOCS
              for key in re.findall(rf"--set[ =]'?(\w+\.[\w.]+|{top_level})=", doc.read_text())]
    wrong_on_purpose = " ".join(command for _, command, _ in documented_errors())  # the quoted error's key
    for where, key in named:
        if key in wrong_on_purpose:
            continue
        table = ".".join(key.split(".")[:2])
        key = table if table in TABLE_KEYS else key  # search.space.kl_weight, data.filters.gender: an entry of a table
        assert key in keys, f"{where}: `{key}` is no study key"
    assert len(named) >= 60
