"""A search's trials on the farm, at the seam where a trial's config reaches the farm's
placement: the search joins the Ray cluster, the trial's config gives FarmDevice wrapping the
board's backend, and the measurement (Ray replaced by the in-process stand-in of
test_farm_device; the board the measuring stand-in of tests/helpers/measuring_board.py) comes
back measured, from the board's node. A real cluster is tests/integration/test_ray_farm.py's;
a whole search on one is not tested (docs/search.md says so)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import compose_config
from tests.helpers.measuring_board import StandinMeasuringDevice, standin_latency_us
from tests.helpers.models import convert_dense
from tests.unit.test_farm_device import SETTINGS, _RayStandIn
from tinyexp.core.errors import ConfigError
from tinyexp.device.base import DeployRequest, load_backend
from tinyexp.device.farm import PLACEMENT, FarmDevice
from tinyexp.search.farm import join_farm
from tinyexp.tflm.c_array import to_c_array

TRIAL = ["device=serial", f"device.placement={PLACEMENT}", "board=nano33ble",
         "device.backend=tests.helpers.measuring_board.StandinMeasuringDevice"]


class _Cluster(_RayStandIn):
    """The stand-in, not yet joined, offering the nano33ble's board resource."""

    def __init__(self) -> None:
        super().__init__()
        self.joined = 0

    def is_initialized(self) -> bool:
        return self.joined > 0

    def init(self, **options: Any) -> None:
        self.joined += 1

    def cluster_resources(self) -> dict[str, float]:
        return {"board:nano33ble": 1.0}


@pytest.fixture()
def cluster(monkeypatch: pytest.MonkeyPatch) -> _Cluster:
    stand_in = _Cluster()
    monkeypatch.setitem(sys.modules, "ray", stand_in)
    return stand_in


def test_a_trial_placed_on_the_farm_is_measured_on_the_boards_node(cluster: _Cluster, tmp_path: Path) -> None:
    cfg = compose_config([*TRIAL, f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"])
    assert join_farm(cfg) and join_farm(cfg) and cluster.joined == 1  # once per process
    backend = load_backend(cfg.device, cfg.board)
    assert isinstance(backend, FarmDevice) and backend.placed is StandinMeasuringDevice
    assert backend.check_ready() == {}  # a joined search is a Ray process: the board is offered

    model = convert_dense([4], "float32")
    request = DeployRequest(model, to_c_array(model, "g_model"), 16384, None, tmp_path)
    result = backend.measure(request, [[0.5], [1.5]], "float32", SETTINGS)
    assert cluster.options == {"num_cpus": 0, "resources": {"board:nano33ble": 1}, "max_retries": 0}
    assert result.node is not None and result.node.endswith("/boardnode012")
    assert result.measurement.identity["latency_source"] == "measured"
    assert result.measurement.stats["mean_us"] == pytest.approx(standin_latency_us(model), abs=1e-3)


def test_a_search_off_the_farm_does_not_join_it(cluster: _Cluster, tmp_path: Path) -> None:
    assert not join_farm(compose_config(["device=serial", f"tracking.uri=sqlite:///{tmp_path / 'm.db'}"]))
    assert cluster.joined == 0


def test_the_farm_without_a_shared_store_or_without_ray_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^tracking.uri=None with device.placement=.*absolute store URI$"):
        join_farm(compose_config(TRIAL))
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(ConfigError, match=r"Ray is not installed: pip install -e '\.\[farm\]'$"):
        join_farm(compose_config([*TRIAL, f"tracking.uri=sqlite:///{tmp_path / 'm.db'}"]))
