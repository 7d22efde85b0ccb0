"""Executors: where the independent units of work of a sweep run (issue 19).

The default executor is this process: :func:`simulators.sweep` runs its setting groups one after
the other, and nothing beyond the core dependencies is needed. :class:`RayExecutor` runs each
unit as a `Ray <https://docs.ray.io>`_ task instead (the ``ray`` extra), on a local Ray instance or
on a cluster of machines; ``sharpen reproduce`` and ``sharpen verify`` use the same object for their
claims and figure settings (``--executor ray``).

What a task gets, wherever it runs:

* **Resources.** It asks Ray for ``num_cpus`` CPUs (and ``num_gpus`` GPUs), so Ray packs no more
  tasks on a node than it has cores, and its native thread pools are sized to that share:
  ``NPROC`` (read by XLA's CPU client for its thread pool), ``OMP_NUM_THREADS`` (torch, OpenMP),
  ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` are set to ``floor(num_cpus)`` (at least 1) in
  the task's environment. Ray starts the worker processes of a task with that environment, so the
  pools are sized before JAX or torch first start.
* **The calling process's numerics.** ``JAX_ENABLE_X64`` follows this process's
  ``jax_enable_x64`` and ``XLA_FLAGS`` is this process's value (empty if unset), whatever the
  shell that started a node had: the compiled programs, and so the numbers, are those of a serial
  run here. (``GLIBC_TUNABLES`` is passed on too: huge pages change speed, never results.)
* **Fault tolerance.** A task whose worker process or node dies is run again by Ray, up to
  ``max_retries`` times (units are pure, or write their result atomically, so a rerun is safe); an
  exception raised by the unit's own code is not retried.

Connecting never hangs: an address is checked for its form, a ``HOST:PORT`` is probed with a TCP
connection first (``ray.init`` would retry an address where nothing listens for minutes), and a
cluster on which no node has the resources one task asks for within ``timeout_s`` is refused (Ray
would queue such a task forever).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# The variables that size native thread pools, set to a task's CPU share (see the module doc).
THREAD_VARIABLES = ("NPROC", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

RAY_INSTALL_HINT = (
    "install the toolkit's 'ray' extra: `pip install -e '.[ray]'` in the repository (`make "
    "install` does), or `pip install 'sharpen-toolkit[ray]'`"
)

_ADDRESS_FORMS = (
    "'auto' (the cluster started on this machine by `ray start`), 'local' (a new Ray instance "
    "in this process), HOST:PORT (a cluster's head node, e.g. 10.0.0.5:6379) or ray://HOST:PORT "
    "(Ray Client)"
)
_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
_HOST_PORT = re.compile(rf"^(?P<client>ray://)?(?P<host>{_HOST}):(?P<port>[0-9]{{1,5}})$")


def import_ray():
    """The ``ray`` module, or an ``ImportError`` that says how to install it."""
    try:
        import ray
    except ImportError as err:
        raise ImportError(f"the Ray executor needs Ray ({err}); {RAY_INSTALL_HINT}") from err
    return ray


def check_address(address: Any, name: str = "address") -> str | None:
    """``address`` if it has one of the forms Ray connects to (None: not given).

    Raises:
      TypeError, ValueError: naming ``name`` and the accepted forms.
    """
    if address is None:
        return None
    if not isinstance(address, str):
        raise TypeError(f"{name} must be a string ({_ADDRESS_FORMS}), got {type(address).__name__}")
    if address in ("auto", "local"):
        return address
    m = _HOST_PORT.match(address)
    if m is None or not 1 <= int(m.group("port")) <= 65535:
        raise ValueError(f"{name} must be {_ADDRESS_FORMS}; got {address!r}")
    return address


def thread_environment(num_cpus: float) -> dict[str, str]:
    """The environment variables that size a task's native thread pools to ``num_cpus``."""
    threads = str(max(1, math.floor(num_cpus)))
    return dict.fromkeys(THREAD_VARIABLES, threads)


def _probe(address: str, timeout_s: float) -> None:
    """Refuses a ``HOST:PORT`` where nothing accepts a TCP connection (``ray.init`` would retry
    for minutes)."""
    m = _HOST_PORT.match(address)
    if m is None:
        return
    host, port = m.group("host").strip("[]"), int(m.group("port"))
    try:
        with socket.create_connection((host, port), timeout=min(timeout_s, 10.0)):
            pass
    except OSError as err:
        raise ConnectionError(
            f"cannot reach the Ray cluster at {address} ({err.strerror or err}): start its head "
            f"node with `ray start --head --port {port}`, or check the address"
        ) from None


@dataclasses.dataclass(frozen=True)
class RayExecutor:
    """Runs units of work as Ray tasks (``simulators.sweep(..., executor=RayExecutor())``).

    Attributes:
      address: where the cluster is: ``None`` (default: ``$RAY_ADDRESS`` if set, else ``"local"``),
        ``"local"`` (start a Ray instance owned by this process, sized ``local_cpus``), ``"auto"``
        (the cluster that ``ray start`` started on this machine), ``"HOST:PORT"`` (a head node) or
        ``"ray://HOST:PORT"`` (Ray Client). If this process is already connected to Ray
        (``ray.init`` called by the user), that connection is used as it is.
      num_cpus: CPUs one task asks for (> 0); its thread pools get ``floor(num_cpus)`` threads.
      num_gpus: GPUs one task asks for (>= 0).
      max_retries: how often Ray reruns a task whose worker process or node died (>= 0).
      local_cpus: CPUs of a ``"local"`` instance (default: ``os.cpu_count()``).
      timeout_s: seconds to connect and to find a node with a task's resources (> 0).
    """

    address: str | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    max_retries: int = 3
    local_cpus: int | None = None
    timeout_s: float = 60.0

    def __post_init__(self):
        check_address(self.address)
        for name, low, strict in (("num_cpus", 0, True), ("num_gpus", 0, False)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise TypeError(f"{name} must be a finite number, got {v!r}")
            if v < low or (strict and v == low):
                raise ValueError(f"{name} must be {'>' if strict else '>='} {low}, got {v!r}")
        for name, low in (("max_retries", 0), ("local_cpus", 1)):
            v = getattr(self, name)
            if v is None and name == "local_cpus":
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
        t = self.timeout_s
        if isinstance(t, bool) or not isinstance(t, int | float) or not t > 0 or t == math.inf:
            raise ValueError(f"timeout_s must be a positive number of seconds, got {t!r}")

    @property
    def resolved_address(self) -> str:
        """The address :meth:`connect` uses (``$RAY_ADDRESS`` or ``"local"`` when none is set)."""
        if self.address is not None:
            return self.address
        env = os.environ.get("RAY_ADDRESS")
        return check_address(env, "$RAY_ADDRESS") if env else "local"

    def check_available(self) -> None:
        """Checks, without connecting, that Ray is installed and the address (or
        ``$RAY_ADDRESS``) has a form Ray accepts.

        Raises:
          ImportError: Ray is not installed (the message says how to install it).
          ValueError: ``$RAY_ADDRESS`` has no such form.
        """
        import_ray()
        self.resolved_address  # noqa: B018  (checks $RAY_ADDRESS)

    def connect(self):
        """Connects this process to Ray (once) and returns the ``ray`` module.

        Raises:
          ImportError: Ray is not installed (the message says how to install it).
          ConnectionError, TimeoutError: the cluster cannot be reached in ``timeout_s``.
          ValueError: no node of the cluster has the resources one task asks for.
        """
        ray = import_ray()
        address = self.resolved_address
        if not ray.is_initialized():
            _probe(address, self.timeout_s)
            kwargs: dict[str, Any] = {"address": address, "include_dashboard": False}
            if address == "local":
                kwargs["num_cpus"] = self.local_cpus or os.cpu_count() or 1
            try:
                # In this thread: Ray ties the processes it starts to the thread starting them.
                ray.init(**kwargs)
            except ConnectionError as err:
                if "auth" not in str(err).lower() and "auth" not in str(err.__cause__).lower():
                    raise
                raise ConnectionError(
                    f"the Ray cluster at {address} refused this process's token: set "
                    "RAY_AUTH_MODE=token here and give it the cluster's token (~/.ray/auth_token, "
                    "RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN)"
                ) from err
        self._wait_for_resources(ray, address)
        return ray

    def _wait_for_resources(self, ray, address: str) -> None:
        """Waits up to ``timeout_s`` for a node with a task's CPUs and GPUs (nodes may still be
        joining); refuses the cluster after that."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
            if any(
                r.get("CPU", 0.0) >= self.num_cpus and r.get("GPU", 0.0) >= self.num_gpus
                for r in nodes
            ):
                return
            if time.monotonic() > deadline:
                have = ", ".join(
                    f"{r.get('CPU', 0.0):g} CPU / {r.get('GPU', 0.0):g} GPU" for r in nodes
                )
                raise ValueError(
                    f"no node of the Ray cluster at {address} has the {self.num_cpus:g} CPUs and "
                    f"{self.num_gpus:g} GPUs one task asks for (nodes: {have or 'none'}); ask "
                    "for fewer per task or add a node"
                )
            time.sleep(0.25)

    def task_environment(self) -> dict[str, str]:
        """The environment every task runs in (module doc): thread counts, x64, XLA_FLAGS."""
        import jax

        env = thread_environment(self.num_cpus)
        env["JAX_ENABLE_X64"] = "1" if jax.config.jax_enable_x64 else "0"
        env["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "")
        if "GLIBC_TUNABLES" in os.environ:
            env["GLIBC_TUNABLES"] = os.environ["GLIBC_TUNABLES"]
        return env

    def remote(self, fn: Callable[..., Any]):
        """``fn`` as a Ray remote function with this executor's resources, retries and
        environment (a generator function becomes a streaming generator task)."""
        ray = self.connect()
        return ray.remote(
            num_cpus=self.num_cpus,
            num_gpus=self.num_gpus,
            max_retries=self.max_retries,
            runtime_env={"env_vars": self.task_environment()},
        )(fn)

    def map(
        self,
        fn: Callable[..., Any],
        calls: Iterable[Sequence[Any]],
        *,
        names: Sequence[str] | None = None,
        on_done: Callable[[int], None] | None = None,
    ) -> list[Any]:
        """``[fn(*args) for args in calls]``, each call one Ray task, results in call order.

        Args:
          fn: a picklable function (module-level functions travel by reference: their module must
            be importable on every node).
          calls: the argument tuples.
          names: what to call each unit in an error (default: ``call <i>``).
          on_done: called with each call's index as its task finishes (in any order).

        Raises:
          The unit's own exception (Ray re-raises it as an instance of the same type), or
          ``RuntimeError`` naming the unit when Ray could not run it (its worker or node died
          more than ``max_retries`` times).
        """
        ray = self.connect()
        task = self.remote(fn)
        refs = [task.remote(*args) for args in calls]
        index = {ref: i for i, ref in enumerate(refs)}
        waiting = list(refs)
        try:
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1)
                for ref in done:
                    self._get(ray, ref, index[ref], names)  # raises at the first failure
                    if on_done is not None:
                        on_done(index[ref])
            return [self._get(ray, ref, i, names) for i, ref in enumerate(refs)]
        finally:
            for ref in waiting:  # a failure or an interruption: cancel what has not run
                ray.cancel(ref, force=True)

    @staticmethod
    def _get(ray, ref, i: int, names: Sequence[str] | None) -> Any:
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError:
            raise  # the unit's own exception, as its own type
        except ray.exceptions.RayError as err:
            name = names[i] if names is not None else f"call {i}"
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise RuntimeError(
                f"{name} could not be run on the Ray cluster: {type(err).__name__}: {first}"
            ) from err

    def shutdown(self) -> None:
        """Disconnects this process from Ray: a ``"local"`` instance it started stops, a cluster
        it connected to stays up."""
        try:
            import ray
        except ImportError:
            return
        if ray.is_initialized():
            ray.shutdown()


def as_executor(executor: Any, name: str = "executor") -> RayExecutor | None:
    """``None`` for this process (``None`` or ``"local"``), a :class:`RayExecutor` for ``"ray"`` or
    a :class:`RayExecutor` given; anything else is refused naming ``name``."""
    if executor is None or executor == "local":
        return None
    if executor == "ray":
        return RayExecutor()
    if isinstance(executor, RayExecutor):
        return executor
    raise ValueError(
        f"{name} must be None or 'local' (this process), 'ray' or a simulators.RayExecutor, "
        f"got {executor!r}"
    )
