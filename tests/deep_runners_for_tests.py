"""A deep runner that misbehaves on purpose (kept apart from runners_for_tests: importing torch
would slow every worker process of the other tests' runs)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cirrbench.benchmark.runners.contract import RunContext, ScanSet
from cirrbench.benchmark.runners.registry import register_runner
from cirrbench.models.deep_runners import SliceCNNRunner as _SliceCNNRunner
from cirrbench.models.deep_runners import SliceParams as _DeepSliceParams


@dataclass(frozen=True)
class DeepKillerParams(_DeepSliceParams):
    kill_file: str = ""  # while this file exists, the process is killed at the end of epoch 2
    epochs_file: str = ""  # every epoch line the job logs is appended here


@register_runner
class DeepKillerRunner(_SliceCNNRunner):
    """A real slice CNN whose process dies (SIGKILL-like) after epoch 2 while ``kill_file`` exists."""

    name = "test-deep-killer"
    Params = DeepKillerParams

    def fit(self, train: ScanSet, valid: ScanSet, context: RunContext) -> DeepKillerRunner:
        import logging

        kill_file, epochs_file = Path(self.params.kill_file), Path(self.params.epochs_file)

        class Watch(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                message = record.getMessage()
                if message.startswith("epoch "):
                    with open(epochs_file, "a") as handle:
                        handle.write(message.split()[1] + "\n")
                    if message.startswith("epoch 2/") and kill_file.exists():
                        kill_file.unlink()
                        os._exit(137)

        watch = Watch()
        context.logger.addHandler(watch)
        context.logger.setLevel(logging.DEBUG)  # the epoch lines are debug messages
        try:
            return super().fit(train, valid, context)
        finally:
            context.logger.removeHandler(watch)
