"""The README's runner example is real code: it must register and obey the contract."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
from cirrbench.benchmark.runners.check import check_runner
from cirrbench.benchmark.runners.registry import get_runner, unregister_runner

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_runner_example_works(contract_phantom):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    example = next(b for b in blocks if "register_runner" in b)
    module = types.ModuleType("readme_example")
    sys.modules["readme_example"] = module  # dataclasses look their module up
    try:
        exec(compile(example, "README.md", "exec"), module.__dict__)
        runner = module.LiverTextureRunner
        assert get_runner("liver-texture") is runner
        check_runner(runner, load_cirrmri(contract_phantom))
    finally:
        unregister_runner("liver-texture")
        sys.modules.pop("readme_example", None)


def test_every_cli_command_in_the_readme_exists():
    from cirrbench.cli import build_parser

    parser = build_parser()
    for line in re.findall(r"`cirrbench ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", README.read_text()):
        words = line.split()
        try:
            parser.parse_args([*words, "--help"])
        except SystemExit as exc:
            assert exc.code == 0, line


def test_the_example_runner_file_is_the_readmes_and_its_config_runs(tmp_path, tiny_phantom, capsys):
    """examples/texture_runner.py is the README's code; examples/texture_runner.yaml runs it as a plugin."""
    from cirrbench.cli import main

    examples = README.parent / "examples"
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    example = next(b for b in blocks if "register_runner" in b)
    code = (examples / "texture_runner.py").read_text()
    assert example.split("\n", 1)[1].strip() in code  # the README's block, less its first comment line
    assert 'display_name = "Liver texture (radiomics)"' in code
    try:
        argv = ["run", str(examples / "texture_runner.yaml"), "--out", str(tmp_path / "out"), "-q", "--jobs", "1"]
        assert main([*argv, "--data", str(tiny_phantom)]) == 0
        verdict = capsys.readouterr().out
        assert "the pair Liver texture (radiomics) vs Logistic regression (radiomics) was declared" in verdict
    finally:
        unregister_runner("liver-texture")
