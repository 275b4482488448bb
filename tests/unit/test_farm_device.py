"""The farm as a device backend: deploy-and-measure sent to the board's node and its result or
failure brought back as a local backend would give it (Ray replaced by a synchronous stand-in
that runs the task in this process; tests/integration/test_ray_farm.py runs a real cluster)."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, Sequence

import pytest

from agent.session import Measurement, MeasurementError
from tinyexp.core.errors import DeviceError
from tinyexp.core.config import BoardConfig, DeviceConfig
from tinyexp.device.base import BoardMeasurement, DeployRequest, DeviceBackend, SessionSettings, load_backend
from tinyexp.device.farm import PLACEMENT, FarmDevice
from tinyexp.tflm.c_array import to_c_array

SETTINGS = SessionSettings(warmup=1, invokes=2, baud=115200, timeout_s=1.0, retries=1)
SEEN: list[dict[str, Any]] = []  # what the stub board was asked, on the "board node"


class StubBoard(DeviceBackend):
    """A board that answers from its config: ``device.kind`` = ok | midway | unreachable."""

    estimated_clock = True

    def check_ready(self) -> dict[str, str]:
        return {"device.port": "stub-port"}

    def measure(self, request: DeployRequest, inputs: Sequence[Sequence[float]], input_dtype: str,
                settings: SessionSettings) -> BoardMeasurement:
        SEEN.append({"workdir": request.workdir, "inputs": inputs, "dtype": input_dtype, "settings": settings})
        if self.device.kind == "midway":
            raise MeasurementError("the board stopped answering", ["> @1 HELLO", "< @1 OK"])
        if self.device.kind == "unreachable":
            raise DeviceError("cannot open stub-port")
        m = Measurement({"latency_source": "measured"}, {}, {"mean_us": 12.5}, [12.5], [-1.0], [[0.5]], ["> @1 HELLO"])
        return BoardMeasurement(m, flash_bytes=1000, ram_bytes=200)


class _RayStandIn:
    """ray.remote/wait/get run the task at once, in this process; records the task's options."""

    def __init__(self) -> None:
        self.options: dict[str, Any] = {}
        self.exceptions = types.SimpleNamespace(RayError=RuntimeError)
        self.context = types.SimpleNamespace(get_node_id=lambda: "boardnode0123456789")

    def is_initialized(self) -> bool:
        return True

    def get_runtime_context(self) -> Any:
        return self.context

    def remote(self, **options: Any) -> Any:
        self.options = options
        return lambda fn: types.SimpleNamespace(remote=lambda *args: fn(*args))

    def wait(self, refs: list[Any], timeout: float) -> tuple[list[Any], list[Any]]:
        return refs, []

    def get(self, ref: Any) -> Any:
        return ref


@pytest.fixture()
def ray(monkeypatch: pytest.MonkeyPatch) -> _RayStandIn:
    stand_in = _RayStandIn()
    monkeypatch.setitem(sys.modules, "ray", stand_in)
    SEEN.clear()
    return stand_in


def _farm(stub: str) -> DeviceBackend:
    device = DeviceConfig(kind=stub, backend=f"{__name__}.StubBoard", placement=PLACEMENT,
                          ray_resource="board:stub", port="stub-port")
    return load_backend(device, BoardConfig(name="stub"))


def _request(tmp_path: Path) -> DeployRequest:
    model = b"\x00" * 64
    return DeployRequest(model, to_c_array(model, "stub"), 1024, 12.5, tmp_path)


def test_the_measurement_comes_back_with_its_node_and_that_nodes_readiness(ray: _RayStandIn, tmp_path: Path) -> None:
    farm = _farm("ok")
    assert isinstance(farm, FarmDevice) and farm.estimated_clock  # the wrapped board's clock
    result = farm.measure(_request(tmp_path), [[1.0, 2.0]], "float32", SETTINGS)
    assert ray.options == {"num_cpus": 0, "resources": {"board:stub": 1}, "max_retries": 0}
    assert result.measurement.stats == {"mean_us": 12.5} and (result.flash_bytes, result.ram_bytes) == (1000, 200)
    assert result.node is not None and result.node.endswith("/boardnode012")
    assert result.readiness == {"device.port": "stub-port"}  # checked on the board node
    (seen,) = SEEN
    assert seen["workdir"] != tmp_path, "the board node deployed in the job's directory"
    assert (seen["inputs"], seen["dtype"], seen["settings"]) == ([[1.0, 2.0]], "float32", SETTINGS)


def test_a_board_failing_midway_keeps_its_transcript_and_names_the_node(ray: _RayStandIn, tmp_path: Path) -> None:
    with pytest.raises(MeasurementError, match=r"the board stopped answering \(on farm node .*/boardnode012\)") as info:
        _farm("midway").measure(_request(tmp_path), [[1.0]], "float32", SETTINGS)
    assert info.value.transcript == ["> @1 HELLO", "< @1 OK"]


def test_an_unreachable_board_is_one_device_error(ray: _RayStandIn, tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match=r"^cannot open stub-port \(on farm node .*\)$"):
        _farm("unreachable").measure(_request(tmp_path), [[1.0]], "float32", SETTINGS)
