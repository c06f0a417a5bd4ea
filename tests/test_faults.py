"""Faults a long benchmark meets: a kill during --force, corrupt cache entries, two runs into one
folder, a killed main process with live workers, a full or unwritable disk, runners that exit or
warn. None of them may lose finished results, block the next run or leave a process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import runners_for_tests  # noqa: F401  (registers the test runners)
import yaml
from helpers import cli_in_subprocess, config_file, grow_unless_first_task
from joblib import delayed as delayed_call

from cirrbench.benchmark.data.sources.cirrmri import load_cirrmri
from cirrbench.benchmark.execution.experiment import parse_experiment
from cirrbench.benchmark.execution.lock import ResultsLock, ResultsLocked
from cirrbench.benchmark.execution.orchestrator import RunOptions, run_experiment
from cirrbench.cli import main

TESTS = Path(__file__).parent


def config(root: Path, tmp: Path, **raw) -> Path:
    return config_file(root, tmp, **{"metrics": {"bootstrap": 20}, **raw})


def test_a_kill_during_force_keeps_the_old_results(tiny_phantom, tmp_path):
    out = tmp_path / "results"
    counter = tmp_path / "fits.txt"
    path = config(
        tiny_phantom,
        tmp_path,
        inputs=["T1W", "T2W"],
        runners=["majority", {"name": "test-killer", "params": {"counter": str(counter), "kill_at": 3}}],
    )
    run = ["run", str(path), "--out", str(out), "--jobs", "1", "-q", "--no-report"]  # predictions are what is checked
    assert main(run) == 0  # fits 1 and 2: both killer jobs done
    before = {p.parent.name: p.read_bytes() for p in (out / "predictions").glob("*/predictions.csv")}
    assert len(before) == 4
    killed = subprocess.run(
        cli_in_subprocess("run", str(path), "--out", str(out), "--jobs", "1", "-q", "--force"),
        capture_output=True,
        text=True,
    )
    assert killed.returncode == 137, killed.stderr  # the third fit (a forced rerun) killed the process
    after = {p.parent.name: p.read_bytes() for p in (out / "predictions").glob("*/predictions.csv")}
    assert after == before  # every finished job survived, byte for byte
    counter.write_text("100")
    assert main(run) == 0
    assert not [p for p in (out / "predictions").iterdir() if p.name.startswith(".")]


def test_truncated_slice_cache_entry_is_recomputed(tiny_phantom, caplog):
    from cirrbench.models.preprocessing import Preprocessing, _cache_paths, preprocess_scan

    record = load_cirrmri(tiny_phantom).records[0]
    p = Preprocessing(spacing_mm=2.5, size=32)
    first = np.array(preprocess_scan(record, p).volume)
    volume_path, meta_path = _cache_paths(record, p)
    volume_path.write_bytes(volume_path.read_bytes()[:100])
    again = np.array(preprocess_scan(record, p).volume)
    assert np.array_equal(first, again)
    assert "corrupt" in caplog.text
    meta_path.write_text('{"scan_id": "T1W-')  # a kill in the middle of writing the JSON
    assert np.array_equal(np.array(preprocess_scan(record, p).volume), first)


def test_truncated_feature_and_validation_cache_entries_are_recomputed(tiny_phantom, tmp_path, caplog):
    from cirrbench.baselines.features import _cache_path, extract_features, load_params
    from cirrbench.benchmark.common.paths import cache_dir
    from cirrbench.benchmark.data.validate import validate

    records = load_cirrmri(tiny_phantom).records[:2]
    params = load_params("default")
    first = extract_features(records, params, jobs=1, progress=False).table
    for entry in cache_dir("features").rglob("*.json"):
        entry.write_text(entry.read_text()[:10])
    import cirrbench.baselines.features as features

    features._MEMO.clear()
    again = extract_features(records, params, jobs=1, progress=False)
    assert again.extracted == 2 and again.table.equals(first)
    for entry in cache_dir("validation").glob("*.json"):
        entry.write_text("[{")
    assert validate(tiny_phantom, progress=False).ok
    assert "corrupt" in caplog.text and _cache_path


def test_a_second_run_into_the_same_folder_is_refused_with_the_holder(tiny_phantom, tmp_path, capsys):
    out = tmp_path / "results"
    path = config(tiny_phantom, tmp_path)
    with ResultsLock(out):
        assert main(["run", str(path), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"pid {os.getpid()}" in err and "another cirrbench run" in err and "use another --out" in err
    assert not (out / "tables").exists()
    assert main(["run", str(path), "--out", str(out), "-q", "--jobs", "1"]) == 0  # released with its holder


def test_a_killed_holder_releases_the_lock(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from cirrbench.benchmark.execution.lock import ResultsLock; import time\nwith ResultsLock({str(tmp_path)!r}):\n    print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    with ResultsLock(tmp_path):
        pass


def test_killing_the_main_process_ends_its_workers(tiny_phantom, tmp_path):
    psutil = pytest.importorskip("psutil")
    path = config(
        tiny_phantom,
        tmp_path,
        inputs=["T1W", "T2W"],
        runners=[{"name": "test-sleepy", "params": {"seconds": 60}}],
        reference=None,
    )
    # the machine busy on every core, as a shared machine is: workers then start slowly
    main_process, workers, busy = _busy_run(path, tmp_path / "results", psutil)
    try:
        assert len(workers) >= 2, "the run never started its worker processes"
        os.kill(main_process.pid, signal.SIGKILL)  # at once: workers may still be starting up
        main_process.wait()
        gone, alive = psutil.wait_procs(workers, timeout=10)
    finally:
        for process in busy:
            process.kill()
    assert not alive, f"workers still alive 10 s after the main process was killed: {[p.pid for p in alive]}"


@pytest.mark.parametrize("initializer", [None, "_one_blas_thread"])
def test_killing_the_parent_of_a_forked_pool_ends_its_workers(initializer):
    """The figures' and the radiomics features' pools (forked workers, with or without their own
    set-up) end with the process that started them, as the job pools do."""
    psutil = pytest.importorskip("psutil")
    code = (
        "import os, signal, sys, time\n"
        "from cirrbench.baselines import features\n"
        "from cirrbench.benchmark.common.processes import forked_pool\n"
        f"pool = forked_pool(2, {'features.' + initializer if initializer else None})\n"
        "futures = [pool.submit(time.sleep, 1.0) for _ in range(2)]\n"
        "for future in futures: future.result()\n"
        "print(*[p.pid for p in pool._processes.values()], flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    # not subprocess.run: workers left alive would hold its output pipe open
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    pids = [int(pid) for pid in process.stdout.readline().split()]
    assert process.wait(timeout=120) == -signal.SIGKILL and len(pids) == 2
    _wait_for(lambda: not any(psutil.pid_exists(pid) for pid in pids), seconds=30)
    assert not [pid for pid in pids if psutil.pid_exists(pid)], (
        f"workers alive 30 s after their parent was killed: {pids}"
    )


def _start_run(path: Path, out: Path, jobs: int) -> subprocess.Popen:
    """``cirrbench run PATH --out OUT`` in its own process, with the test runners registered."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        cli_in_subprocess("run", str(path), "--out", str(out), "--jobs", str(jobs), "-q"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _same_tables(out: Path, clean: Path) -> bool:
    """Whether ``out`` holds exactly the tables of ``clean``, byte for byte."""
    names = sorted(p.name for p in (clean / "tables").iterdir())
    return (
        bool(names)
        and names == sorted(p.name for p in (out / "tables").iterdir())
        and all((out / "tables" / n).read_bytes() == (clean / "tables" / n).read_bytes() for n in names)
    )


def _busy_run(path: Path, out: Path, psutil):  # noqa: ANN001
    """Start a run with both cores busy; return (main process, its loky workers, the busy loops)."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    main_process = _start_run(path, out, jobs=2)
    parent = psutil.Process(main_process.pid)
    deadline = time.time() + 120
    workers: list = []
    while time.time() < deadline and len(workers) < 2:
        workers = [c for c in parent.children(recursive=True) if "LokyProcess" in " ".join(c.cmdline())]
        time.sleep(0.5)
    return main_process, workers, busy


def test_sigterm_stops_the_run_like_ctrl_c_and_frees_the_folder(tiny_phantom, tmp_path):
    """kill / timeout / docker stop: exit 143 with the Ctrl-C message, no worker left, lock free."""
    psutil = pytest.importorskip("psutil")
    out = tmp_path / "results"
    path = config(
        tiny_phantom,
        tmp_path,
        inputs=["T1W", "T2W"],
        runners=[{"name": "test-sleepy", "params": {"seconds": 60}}],
        reference=None,
    )
    main_process, workers, busy = _busy_run(path, out, psutil)
    try:
        assert len(workers) >= 2, "the run never started its worker processes"
        main_process.send_signal(signal.SIGTERM)
        _, err = main_process.communicate(timeout=120)
        gone, alive = psutil.wait_procs(workers, timeout=30)
    finally:
        for process in busy:
            process.kill()
    assert main_process.returncode == 143, err
    assert "terminated (SIGTERM); finished jobs are kept, rerun to resume" in err
    assert not alive, f"workers still alive after the run ended on SIGTERM: {[p.pid for p in alive]}"
    with ResultsLock(out):
        pass  # nobody holds the folder any more


def _wait_for(predicate, seconds: float = 120.0) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


STOPPED_RUNNERS = ["majority", "stratified-random", {"name": "test-sleepy", "params": {"seconds": 1}}]


@pytest.fixture(scope="module")
def clean_run(tiny_phantom, tmp_path_factory) -> Path:
    """The stopped runs' config run once without a stop (read-only; both stop phases compare with it)."""
    tmp = tmp_path_factory.mktemp("clean")
    path = config(tiny_phantom, tmp, inputs=["T1W", "T2W"], runners=STOPPED_RUNNERS)
    assert main(["run", str(path), "--out", str(tmp / "clean"), "--jobs", "1", "-q"]) == 0
    return tmp / "clean"


@pytest.mark.parametrize(
    "phase, sig, code",
    [("before the first job", signal.SIGTERM, 143), ("after the first finished job", signal.SIGKILL, -9)],
)
def test_a_stopped_run_reruns_to_the_bytes_of_a_clean_run(tiny_phantom, clean_run, tmp_path, phase, sig, code):
    out = tmp_path / "results"
    path = config(tiny_phantom, tmp_path, inputs=["T1W", "T2W"], runners=STOPPED_RUNNERS)
    process = _start_run(path, out, jobs=1)
    if phase == "before the first job":
        reached = _wait_for(lambda: (out / ".cirrbench.lock").exists())
    else:
        reached = _wait_for(lambda: any((out / "predictions").glob("*/job.json")))
    assert reached, f"the run never reached the phase {phase!r}"
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    assert process.returncode == code, err
    assert main(["run", str(path), "--out", str(out), "--jobs", "1", "-q"]) == 0  # resumes
    assert _same_tables(out, clean_run)
    assert not list(out.rglob(".*.tmp-*")) and not list((out / "predictions").glob(".partial-*"))


def test_a_lock_whose_holder_is_gone_is_taken_over_with_one_line(tmp_path, caplog):
    """A leftover process still holds the lock file, but the run it names is gone from this host."""
    import socket

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    lock_file = tmp_path / ".cirrbench.lock"
    code = (
        "import fcntl, json, sys, time\n"
        f"handle = open({str(lock_file)!r}, 'a+')\n"
        "fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        f"handle.write(json.dumps({{'pid': {dead_pid}, 'host': {socket.gethostname()!r}, 'started': 0}})); handle.flush()\n"
        "print('held', flush=True); time.sleep(60)"
    )
    leftover = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert leftover.stdout.readline().strip() == "held"
        with caplog.at_level("WARNING"), ResultsLock(tmp_path):
            assert json.loads(lock_file.read_text())["pid"] == os.getpid()
        assert (
            f"taking over the lock of cirrbench run pid {dead_pid}, which is no longer running on this host"
            in caplog.text
        )
        # a live holder (the leftover itself, named in the file) is still refused
        lock_file.unlink()
        live = subprocess.Popen(
            [sys.executable, "-c", code.replace(str(dead_pid), "__import__('os').getpid()")],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert live.stdout.readline().strip() == "held"
            with pytest.raises(ResultsLocked, match=f"pid {live.pid}"):
                with ResultsLock(tmp_path):
                    pass
        finally:
            live.kill()
            live.wait()
    finally:
        leftover.kill()
        leftover.wait()


def test_an_unwritable_results_folder_is_one_line_naming_the_path(tiny_phantom, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    path = config(tiny_phantom, tmp_path)
    assert main(["run", str(path), "--out", str(blocker / "results"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(blocker) in err[0]


def test_a_full_disk_leaves_no_partial_file(tmp_path, monkeypatch):
    from cirrbench.benchmark.common import atomic

    target = tmp_path / "table.csv"
    target.write_text("old")

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device", str(target))

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        atomic.atomic_write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]


@pytest.fixture
def small_disk(tmp_path):
    """A 250 kB tmpfs (root with mount rights only; skipped elsewhere), grown on request."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=250k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.decode().strip() or 'mount failed'}")

    def grow(size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)

    try:
        yield mount, grow
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_names_the_file_and_the_rerun_matches_a_clean_run(tiny_phantom, tmp_path, small_disk, capsys):
    mount, grow = small_disk
    path = config(tiny_phantom, tmp_path, runners=["majority", "stratified-random"])
    out = mount / "results"
    assert main(["run", str(path), "--out", str(out), "-q", "--jobs", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {out}/") and "No space left on device" in err
    assert "free some space or use another --out, then rerun: finished jobs are kept" in err
    assert not list(out.rglob(".*.tmp-*")), "a partial file was left behind"
    grow("20m")
    assert main(["run", str(path), "--out", str(out), "-q", "--jobs", "1"]) == 0
    clean = tmp_path / "clean"
    assert main(["run", str(path), "--out", str(clean), "-q", "--jobs", "1"]) == 0
    assert _same_tables(out, clean)


def test_a_runner_that_exits_is_that_jobs_failure(tiny_phantom, tmp_path):
    out = tmp_path / "results"
    raw = yaml.safe_load(config(tiny_phantom, tmp_path, runners=["majority", "test-exits"]).read_text())
    summary, _ = run_experiment(parse_experiment(raw, "x.yaml"), RunOptions(out=out, progress=False, report=False))
    assert summary.ran == ["majority:default:T1W:official-T1W:s0"] and list(summary.failed) == [
        "test-exits:default:T1W:official-T1W:s0"
    ]
    assert "SystemExit" in summary.failed["test-exits:default:T1W:official-T1W:s0"]
    (failure,) = (out / "failures").glob("*.json")
    assert json.loads(failure.read_text())["status"] == "failed"


def test_library_warnings_go_to_the_jobs_log_not_the_console(tiny_phantom, tmp_path, capfd):
    out = tmp_path / "results"
    path = config(tiny_phantom, tmp_path, runners=["majority", "test-warns"])
    assert main(["run", str(path), "--out", str(out), "-q", "--jobs", "1"]) == 0
    captured = capfd.readouterr()
    assert "a library had something to say" not in captured.out + captured.err
    logs = list((out / "predictions").glob("*/warnings.log"))
    assert len(logs) == 1 and "1 x UserWarning: a library had something to say" in logs[0].read_text()


def test_a_worker_that_grows_like_a_deep_job_is_kept_not_restarted():
    """A worker grown past loky's 300 MB leak limit, as by a deep job's imports, keeps running.

    Loky replaced such a worker, so one re-imported torch and MONAI whenever a deep job followed a
    light one."""
    import psutil

    from cirrbench.benchmark.common.processes import worker_pool

    results = worker_pool(2)(delayed_call(grow_unless_first_task)(400) for _ in range(4))
    grown = {pid for pid, grew in results if grew}
    assert grown, "no task ran after a first one on its worker"
    time.sleep(1.0)  # a replaced worker exits right after its task
    for pid in grown:
        assert psutil.pid_exists(pid) and psutil.Process(pid).ppid() == os.getpid(), f"worker {pid} was replaced"
