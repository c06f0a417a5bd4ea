"""`cirrbench perf loop`: the five steps are the commands a user types, each timed in a fresh
process, and loop.json carries them with the machine (the real timings: results/perf/loop.json)."""

from __future__ import annotations

import json

from cirrbench.perf import loop as perf_loop


def test_the_loop_times_cold_warm_changed_report_and_tests_as_typed(tmp_path, monkeypatch):
    calls = []

    def fake_timed(command, env, cwd=None):  # noqa: ANN001
        calls.append((command[1:], env.get("CIRRBENCH_CACHE"), cwd))
        return float(len(calls))

    monkeypatch.setattr(perf_loop, "_timed", fake_timed)
    result = perf_loop.loop_benchmark(tmp_path, profile="tiny", jobs=1)
    (cold, cache, _), (warm, cache_again, _), (changed, cache_changed, _), (report, _, _), (tests, _, cwd) = calls
    assert cold == warm and cold[:4] == ["-m", "cirrbench", "run", "tiny"] and "--jobs" in cold
    assert changed == [*cold, "--set", perf_loop.CHANGED_SETTING] and cache_changed == cache
    assert cache == cache_again and cache.startswith(str(tmp_path.anchor)) and "cache" in cache
    assert report[:3] == ["-m", "cirrbench", "report"] and report[3] == cold[cold.index("--out") + 1]
    assert tests[:2] == ["-m", "pytest"] and "-n" in tests and cwd == perf_loop._ROOT
    written = json.loads((tmp_path / "loop_tiny.json").read_text())
    assert written["seconds"] == {
        "cold_run": 1.0,
        "warm_run": 2.0,
        "one_runner_changed": 3.0,
        "report_rebuild": 4.0,
        "test_suite": 5.0,
    }
    assert (
        written["machine"]["cpus"]
        and written["machine"]["cpu_model"]
        and written == {**result, **{k: written[k] for k in written if k not in result}}
    )
