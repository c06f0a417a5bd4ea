"""The README's runner example is real code: it must register and obey the contract."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

from cirrbench.benchmark.data.cohort import load_cirrmri
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
    from cirrbench.benchmark.cli import build_parser

    parser = build_parser()
    for line in re.findall(r"`cirrbench ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", README.read_text()):
        words = line.split()
        try:
            parser.parse_args([*words, "--help"])
        except SystemExit as exc:
            assert exc.code == 0, line
