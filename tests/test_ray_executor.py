"""The Ray executor (issue 19): ``sweep(..., executor=...)`` and ``--executor ray``.

Without a cluster: the argument checks, and the path without Ray installed (simulated by hiding
the module), where everything else works and ``--executor ray`` says how to install it. With a
real cluster (all ``slow``: starting Ray and its workers takes longer than the default suite's
budget): a quick sweep through a local Ray instance that this process starts, and a
``ray start --head`` subprocess with two CPUs runs a sweep, a quick ``reproduce`` subset and a
``verify`` subset, compared byte for byte with the serial results, has a worker killed in the
middle of a unit (the rerun computes only what was unfinished, and with retries Ray finishes the
run itself), checks the in-task watchdog, and is shut down.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import pandas as pd
import pytest

import simulators
from paper_figs import cli
from simulators.experiments import TabularSFTConfig, run_tabular_sft


def _sweep_inputs():
    policy, mu = simulators.coverage_tabular(8, 20, 4.0, margin=0.5)
    configs = {
        f"delta={d}": TabularSFTConfig(policy.logp, mu, delta=jnp.asarray(d), n=32, N=16)
        for d in (0.1, 0.2)
    }
    configs["n=64"] = TabularSFTConfig(policy.logp, mu, delta=jnp.asarray(0.1), n=64, N=16)
    return configs, {"n_used": [8, 16, 32]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# Arguments, and no Ray installed.


def test_sweep_refuses_an_unknown_executor():
    configs, budgets = _sweep_inputs()
    with pytest.raises(ValueError, match="executor must be None or 'local'.*'ray'.*dask"):
        simulators.sweep(run_tabular_sft, configs, 2, budgets, executor="dask", progress=False)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"address": "nohost"}, ValueError, "address must be 'auto'.*HOST:PORT.*'nohost'"),
        ({"address": "10.0.0.5:99999"}, ValueError, "address must be"),
        ({"address": "http://10.0.0.5:6379"}, ValueError, "address must be"),
        ({"address": 6379}, TypeError, "address must be a string"),
        ({"num_cpus": 0}, ValueError, "num_cpus must be > 0"),
        ({"num_cpus": True}, TypeError, "num_cpus must be a finite number"),
        ({"num_gpus": -1}, ValueError, "num_gpus must be >= 0"),
        ({"max_retries": -1}, ValueError, "max_retries must be an int >= 0"),
        ({"local_cpus": 0}, ValueError, "local_cpus must be an int >= 1"),
        ({"timeout_s": 0}, ValueError, "timeout_s must be a positive number"),
    ],
)
def test_ray_executor_checks_its_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        simulators.RayExecutor(**kwargs)


@pytest.mark.parametrize(
    "address", ["auto", "local", "10.0.0.5:6379", "head-node.cluster:6379", "ray://head:10001"]
)
def test_ray_executor_accepts_the_address_forms(address):
    assert simulators.RayExecutor(address=address).address == address


def test_thread_counts_follow_the_task_share():
    env = simulators.RayExecutor(num_cpus=2.5).task_environment()
    assert {env[k] for k in ("NPROC", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")} == {"2"}
    assert simulators.RayExecutor(num_cpus=0.5).task_environment()["NPROC"] == "1"
    assert env["JAX_ENABLE_X64"] == "1"  # the tests run in float64 (conftest)
    assert env["XLA_FLAGS"] == os.environ.get("XLA_FLAGS", "")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class _Shift:
    a: jax.Array


def _run_shift(key, config):
    return {"shifted": config.a + jax.random.uniform(key)}


def test_without_ray_everything_else_works_and_ray_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    configs = [_Shift(jnp.asarray(1.0)), _Shift(jnp.asarray(2.0))]
    with pytest.raises(ImportError, match=r"'ray' extra.*pip install -e '\.\[ray\]'"):
        simulators.sweep(_run_shift, configs, 2, executor="ray", progress=False)
    df = simulators.sweep(_run_shift, configs, 2, progress=False)
    assert df.attrs["executor"] == "local" and len(df) == 4
    assert cli.main(["verify", "--quick", "--only", "C1", "--executor", "ray"]) == 2
    err = capsys.readouterr().err
    assert "sharpen verify: error: --executor ray:" in err and "pip install" in err


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--address", "10.0.0.5:6379"], "--address: only with --executor ray"),
        (["--executor", "ray", "--address", "10.0.0.5"], "--address must be"),
        (["--executor", "ray", "--in-process"], "--in-process and --executor ray exclude"),
        (["--executor", "ray", "--serial"], "--serial and --executor ray exclude"),
    ],
)
def test_reproduce_checks_the_executor_options_before_any_work(argv, match, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["reproduce", "--quick", "--no-claims", "--out", str(out), *argv]) == 2
    assert match in capsys.readouterr().err
    assert not (out / "data").exists()


@pytest.mark.parametrize(
    "option, value, match",
    [
        ("--task-cpus", "0", "--task-cpus: expected a number > 0"),
        ("--task-gpus", "-1", "--task-gpus: expected a number >= 0"),
        ("--max-retries", "x", "--max-retries: expected an int >= 0"),
    ],
)
def test_verify_refuses_bad_task_resources(option, value, match, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["verify", "--executor", "ray", option, value])
    assert exit_info.value.code == 2 and match in capsys.readouterr().err


def test_an_address_where_nothing_listens_is_refused_at_once():
    pytest.importorskip("ray")
    executor = simulators.RayExecutor(address=f"127.0.0.1:{_free_port()}")
    t0 = time.monotonic()
    with pytest.raises(ConnectionError, match="cannot reach the Ray cluster at 127.0.0.1"):
        executor.connect()
    assert time.monotonic() - t0 < 15


# --------------------------------------------------------------------------------------------
# A local Ray instance started by this process (slow: about 30 s on 2 busy cores).


@pytest.mark.slow
def test_sweep_through_a_local_ray_instance_equals_the_serial_sweep():
    pytest.importorskip("ray")
    configs, budgets = _sweep_inputs()
    serial = simulators.sweep(run_tabular_sft, configs, 4, budgets, progress=False)
    executor = simulators.RayExecutor(address="local", local_cpus=2)
    try:
        remote = simulators.sweep(
            run_tabular_sft, configs, 4, budgets, progress=False, executor=executor
        )
    finally:
        executor.shutdown()
    assert remote.attrs["executor"] == "ray" and remote.attrs["num_groups"] == 2
    pd.testing.assert_frame_equal(remote, serial)  # values bit for bit, same dtypes and order
    assert remote.to_csv(index=False) == serial.to_csv(index=False)


# --------------------------------------------------------------------------------------------
# A `ray start --head` cluster with two CPUs (slow).

FIG = "raytest_figs.fig_wait"

_FIG_FILES = {
    "raytest_figs/__init__.py": "",
    "raytest_figs/units.py": """
        import time


        def sleep(seconds):
            time.sleep(seconds)
            return seconds


        def spin(seconds):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                pass
            return seconds


        def boom():
            raise ValueError("boom")


        def xla_threads():
            # XLA's CPU pool threads in this process (after a product), and OMP_NUM_THREADS.
            import os

            import jax.numpy as jnp

            x = jnp.ones((256, 256))
            (x @ x).block_until_ready()
            tasks = os.listdir("/proc/self/task")
            names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in tasks]
            return names.count("tf_XLAEigen"), os.environ["OMP_NUM_THREADS"]
        """,
    "raytest_figs/fig_wait/__init__.py": "",
    "raytest_figs/fig_wait/sweep.py": '''
        """Four cheap settings; without CONTROL/go, setting 2 writes CONTROL/started-<pid> and
        waits in the middle of its run until CONTROL/go exists (a test kills its worker then)."""

        import dataclasses
        import os
        import time
        from pathlib import Path

        import numpy as np
        import pandas as pd

        CONTROL = Path(__file__).resolve().parents[2] / "control"


        @dataclasses.dataclass(frozen=True)
        class Setting:
            index: int
            seed: int = 0


        SWEEP = QUICK = tuple(Setting(i) for i in range(4))
        QUICK_CPU_SECONDS = 0.1


        def run(setting):
            if setting.index == 2 and not (CONTROL / "go").exists():
                (CONTROL / f"started-{os.getpid()}").write_text("")
                deadline = time.monotonic() + 120
                while not (CONTROL / "go").exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
            rng = np.random.default_rng(setting.index)
            return pd.DataFrame({"index": setting.index, "x": rng.standard_normal(5)})
        ''',
    "raytest_figs/fig_wait/analysis.py": """
        from paper_figs import get_ax


        def plot_x(df, ax=None):
            ax = get_ax(ax)
            ax.plot(df["index"], df["x"], "o")
            return ax
        """,
    "raytest_figs/fig_wait/make.py": """
        from paper_figs import figure_data, new_figure, save_figure

        from . import analysis, sweep

        CAPTION = "A test figure."


        def plot(df):
            fig, axes = new_figure()
            analysis.plot_x(df, axes[0])
            return fig


        def make(out_dir, *, quick=False, store=None):
            return save_figure(plot(figure_data(sweep, quick=quick, store=store)), out_dir, "w")
        """,
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Ray head node with two CPUs (two worker processes), started by `ray start` in its own
    session, with the test figure package importable; yields ``(address, root)`` and stops it."""
    old_auth = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "token"  # the cluster's; Ray reads it when first imported
    pytest.importorskip("ray")
    root = tmp_path_factory.mktemp("ray_cluster")
    for name, text in _FIG_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    (root / "control").mkdir()
    port = _free_port()
    env = dict(os.environ, RAY_AUTH_MODE="token", PYTHONPATH=str(root))
    log = open(root / "ray.log", "wb")  # noqa: SIM115  (closed below)
    head = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("ray")),
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            "--block",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    sys.path.insert(0, str(root))
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if head.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"`ray start` did not come up: {root / 'ray.log'}") from None
                time.sleep(0.2)
        yield f"127.0.0.1:{port}", root
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops its processes
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(timeout=30)
        log.close()
        sys.path.remove(str(root))
        if old_auth is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = old_auth


def _csvs(out: Path) -> dict[Path, bytes]:
    return {p.relative_to(out): p.read_bytes() for p in sorted((out / "data").rglob("*.csv"))}


@pytest.mark.slow
def test_sweep_on_the_cluster_equals_the_serial_sweep(cluster):
    address, _ = cluster
    configs, budgets = _sweep_inputs()
    serial = simulators.sweep(run_tabular_sft, configs, 4, budgets, progress=False)
    executor = simulators.RayExecutor(address=address)
    try:
        remote = simulators.sweep(
            run_tabular_sft, configs, 4, budgets, progress=False, executor=executor
        )
    finally:
        executor.shutdown()
    assert remote.to_csv(index=False) == serial.to_csv(index=False)


@pytest.mark.slow
def test_reproduce_and_verify_on_the_cluster_equal_the_serial_run(cluster, tmp_path):
    import paper_figs
    from paper_figs._verify import verify

    address, _ = cluster
    figures = ["fig_lower_bound", "fig_tilt"]
    kwargs = dict(quick=True, figures=figures, claims=False, progress=False)
    _, serial, _ = paper_figs.reproduce(tmp_path / "serial", workers=1, **kwargs)
    executor = simulators.RayExecutor(address=address)
    _, remote, _ = paper_figs.reproduce(tmp_path / "ray", executor=executor, **kwargs)
    assert [o.error for o in remote] == [None, None]
    assert [o.computed for o in remote] == [o.computed for o in serial]
    assert _csvs(tmp_path / "ray") == _csvs(tmp_path / "serial")
    assert (tmp_path / "ray" / "figures" / "fig_tilt.png").is_file()
    assert not list((tmp_path / "ray").glob(".sharpen-run-*"))  # the run's marker is removed

    ids = ["C1", "C4"]
    local = verify(ids, quick=True, workers=1, progress=False)
    on_ray = verify(ids, quick=True, progress=False, executor=executor)
    keys = ("id", "holds", "measured", "predicted")
    assert [{k: r[k] for k in keys} for r in on_ray] == [{k: r[k] for k in keys} for r in local]


def _kill_when_started(control: Path, kills: list[int]) -> threading.Thread:
    """Kills (SIGKILL) the worker process that announces setting 2, then lets it go on."""

    def watch():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            started = list(control.glob("started-*"))
            if started:
                pid = int(started[0].name.split("-")[1])
                os.kill(pid, signal.SIGKILL)
                kills.append(pid)
                started[0].unlink()
                (control / "go").write_text("")
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_a_killed_worker_loses_no_result_and_the_rerun_computes_only_the_rest(cluster, tmp_path):
    import paper_figs

    address, root = cluster
    control = root / "control"
    kwargs = dict(quick=True, figures=[FIG], claims=False, progress=False)
    (control / "go").write_text("")
    _, serial, _ = paper_figs.reproduce(tmp_path / "serial", workers=0, **kwargs)
    assert serial[0].error is None
    for p in control.iterdir():
        p.unlink()

    # No retries: the killed unit fails by name; the others' results are stored.
    kills: list[int] = []
    killer = _kill_when_started(control, kills)
    out = tmp_path / "ray"
    no_retry = simulators.RayExecutor(address=address, max_retries=0)
    _, first, _ = paper_figs.reproduce(out, executor=no_retry, **kwargs)
    killer.join(timeout=10)
    assert len(kills) == 1
    assert "WorkerCrashedError" in first[0].error and first[0].computed == 3
    assert first[0].png is None  # its plot was not attempted
    (victim,) = set(_csvs(tmp_path / "serial")) - set(_csvs(out))

    # The rerun computes the unfinished setting only, and ends with the serial run's bytes.
    retrying = simulators.RayExecutor(address=address)  # max_retries=3
    _, second, _ = paper_figs.reproduce(out, executor=retrying, **kwargs)
    assert second[0].error is None
    assert second[0].computed_ids == [victim.stem]
    assert _csvs(out) == _csvs(tmp_path / "serial")

    # With retries, Ray reruns the killed task and the run finishes by itself.
    (out / victim).unlink()
    (out / victim).with_suffix(".json").unlink()
    for p in control.iterdir():
        p.unlink()
    kills.clear()
    killer = _kill_when_started(control, kills)
    _, third, _ = paper_figs.reproduce(out, executor=retrying, **kwargs)
    killer.join(timeout=10)
    assert len(kills) == 1 and third[0].error is None
    assert third[0].computed_ids == [victim.stem]
    assert _csvs(out) == _csvs(tmp_path / "serial")


@pytest.mark.slow
def test_the_watchdog_ends_stalled_and_overlong_units_on_ray(cluster):
    from paper_figs._runner import Limits, RayRunner, Unit

    address, _ = cluster
    units = "raytest_figs.units"
    runner = RayRunner(
        simulators.RayExecutor(address=address, max_retries=0), Limits(stall_seconds=3.0)
    )
    groups = [
        [
            Unit("ok", f"{units}:sleep", {"seconds": 0.1}),
            Unit("raises", f"{units}:boom"),
            Unit("after", f"{units}:sleep", {"seconds": 0.1}, needs_group=True),
        ],
        [Unit("stalls", f"{units}:sleep", {"seconds": 60})],
        [Unit("overlong", f"{units}:spin", {"seconds": 60}, timeout_s=3.0)],
    ]
    t0 = time.monotonic()
    try:
        results = {r.unit.name: r for r in runner.run(groups)}
    finally:
        runner.close()
    assert time.monotonic() - t0 < 45
    assert results["ok"].value == 0.1
    assert results["raises"].error.startswith("ValueError: boom")
    assert results["after"].error == "not attempted: raises failed"
    assert results["stalls"].killed and "no progress for 3 s" in results["stalls"].error
    assert results["overlong"].killed and "still running after 3 s" in results["overlong"].error
    assert set(runner.started) == {"ok", "raises", "stalls", "overlong"}  # "after" never ran


@pytest.mark.slow
def test_a_task_s_thread_pools_follow_its_cpus(cluster):
    from raytest_figs.units import xla_threads

    address, _ = cluster
    for cpus in (1, 2):  # XLA's default here: one thread per core, 2
        executor = simulators.RayExecutor(address=address, num_cpus=cpus)
        try:
            assert executor.map(xla_threads, [()]) == [(cpus, str(cpus))]
        finally:
            executor.shutdown()
