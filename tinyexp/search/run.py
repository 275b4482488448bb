"""A search's trials: ask Optuna, screen the candidate, prune or train it as a normal job, tell.

Each trained trial is a tinyexp job (`run_job`, the same pipeline) in the search's sweep: one
MLflow run nested under the search's parent run, with the sweep machinery's tags, so trials
show in MLflow and `tinyexp report` like any sweep's jobs. A pruned trial gets a short run of
its own (sizes and the estimate's interval, the reason as a tag) and never trains. The
search's config composition is handed in (`compose`): Hydra stays in the command line.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from tinyexp.core.errors import ConfigError, TinyexpError
from tinyexp.core.processes import alive
from tinyexp.core.names import Artifact, Metric, Tag, canonical_metrics
from tinyexp.pipeline.runner import run_job, run_name
from tinyexp.search import front as front_mod
from tinyexp.search.farm import join_farm
from tinyexp.search.figure import front_figure
from tinyexp.search.screen import Screen, excesses, latency_flag, prune_reason, screen
from tinyexp.search.space import OBJECTIVES, SearchSpec, as_overrides, spec_json, suggest
from tinyexp.search.study import ask_lock, claim, open_study, trials_done
from tinyexp.tracking import sweep
from tinyexp.tracking.search_spec_record import record_spec
from tinyexp.tracking.store import configure

Compose = Callable[[list[str]], Any]
PRUNED_ATTR = "pruned"
_WAIT_S = 2.0  # between looks at an identical config's run that another worker is running
_UNHASHED = ("trials", "give_up_after", "storage", "name", "n_jobs")


@dataclass(frozen=True)
class SearchTarget:
    """Where a search is tracked and its study stored, and its name (the sweep id of its trials)."""

    tracking_uri: str | None
    experiment: str
    storage: str
    search_id: str


@dataclass
class SearchResult:
    parent_run_id: str
    front: front_mod.FrontTable
    counts: dict[str, int] = field(default_factory=dict)  # this command's trials: trained, pruned, failed


def search_id(spec: SearchSpec, base_overrides: Sequence[str]) -> str:
    """The configured id, else one derived from what the search searches: the same search run
    again resumes the same study (the budget and where it is stored do not count)."""
    if spec.id:
        return spec.id
    data = {k: v for k, v in dataclasses.asdict(spec).items() if k not in _UNHASHED}
    kept = sorted(o for o in base_overrides if not o.startswith(("tracking.", "sweep.")))
    digest = hashlib.sha256(json.dumps([data, kept], sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"search-{spec.name}-{digest}"[:64]


def _constrain(trial: Any, found: dict[str, float]) -> None:
    for key, value in found.items():
        trial.set_constraint(key, value)


class _Search:
    """One command's pass over a search: the study, the store and the counts."""

    def __init__(self, spec: SearchSpec, base: Sequence[str], compose: Compose, target: SearchTarget,
                 say: Callable[[str], None], worker: int = 0) -> None:
        from mlflow.tracking import MlflowClient

        self.spec, self.base, self.compose, self.target, self.say = spec, list(base), compose, target, say
        if join_farm(compose([*self.base, f"sweep.id={target.search_id}"])):
            say(f"search {target.search_id}: measuring on the farm's boards (Ray cluster joined)")
        # The study first: a database that cannot be opened leaves no run in the store.
        self.study = open_study(spec, target.search_id, target.storage, worker)
        self.experiment_id = configure(target.tracking_uri, target.experiment)
        self.client = MlflowClient()
        self.parent_id = sweep.ensure_parent(self.client, self.experiment_id, target.search_id)
        self.client.set_tag(self.parent_id, Tag.SEARCH_STORAGE, f"{target.storage} (study {target.search_id})")
        self.counts = {"trained": 0, "pruned": 0, "failed": 0}
        self.closest: tuple[float, int, str] | None = None  # (fraction over, trial, reason)

    def run(self) -> None:
        pruned_in_a_row = 0
        while True:
            with ask_lock(self.target.storage):
                if trials_done(self.study, running=True) >= self.spec.trials:
                    return
                trial = self.study.ask()
                claim(trial)
            trained = self._trial(trial)
            pruned_in_a_row = 0 if trained or self.counts["trained"] else pruned_in_a_row + 1
            if pruned_in_a_row >= self.spec.give_up_after and not self._any_complete():
                closest = (f"; the closest, trial {self.closest[1]}: {self.closest[2]}" if self.closest else "")
                raise ConfigError(f"no candidate met the limits in {pruned_in_a_row} tries{closest}; "
                                  "loosen search.limits or change the space")

    def _any_complete(self) -> bool:
        from optuna.trial import TrialState

        return bool(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))

    def _trial(self, trial: Any) -> bool:
        """Screen, then prune or train one trial; True if it trained and was told complete."""
        from optuna.trial import TrialState

        values = suggest(self.spec, trial)
        overrides = [*self.base, *as_overrides(values, self.spec)]
        try:
            cfg = self.compose([*overrides, f"sweep.id={self.target.search_id}"])
            checked = screen(cfg, self.spec.limits)
        except TinyexpError as exc:
            self._fail(trial, f"the candidate is invalid: {exc}")
            return False
        for attr, value in ((front_mod.LATENCY_LOW_ATTR, checked.latency_low_ms),
                            (front_mod.LATENCY_HIGH_ATTR, checked.latency_high_ms)):
            trial.set_user_attr(attr, value)
        reason = prune_reason(checked, self.spec.limits)
        if reason is not None:
            self._prune(trial, cfg, overrides, checked, reason)
            return False
        flag = latency_flag(checked, self.spec.limits)
        trial.set_user_attr(front_mod.FLAG_ATTR, flag)
        try:
            outcome = run_job(cfg, overrides, self.target.search_id)
        except TinyexpError as exc:
            self._fail(trial, str(exc))
            return False
        except Exception:
            self.study.tell(trial, state=TrialState.FAIL)
            raise
        return self._complete(trial, outcome.run_id, flag, outcome.skipped)

    def _complete(self, trial: Any, run_id: str, flag: str | None, skipped: bool) -> bool:
        from optuna.trial import TrialState

        run = self._ended(run_id) if skipped else self.client.get_run(run_id)
        metrics, tags = canonical_metrics(run.data.metrics), run.data.tags  # older runs' names too
        if run.info.status != "FINISHED":
            self._fail(trial, f"its identical config's run {run_id[:8]} ended {run.info.status}")
            return False
        self.client.set_tag(run_id, Tag.SEARCH_TRIAL, str(trial.number))
        self.client.set_tag(run_id, Tag.SEARCH_PARAMS, json.dumps(trial.params))
        if flag:
            self.client.set_tag(run_id, Tag.SEARCH_LATENCY_FLAG, flag)
        missing = [o for o in self.spec.objectives if OBJECTIVES[o].metric not in metrics]
        if missing:
            why = tags.get(Tag.NOT_DEPLOYED_REASON) or "the run has no such metric"
            self._fail(trial, f"no {', '.join(missing)} ({why})")
            return False
        values = [metrics[OBJECTIVES[o].metric] * OBJECTIVES[o].scale for o in self.spec.objectives]
        # latency_us is the board's mean over its timed invokes where it measured (latency_source
        # measured), else the estimate: the objective and the latency limit read what the run has.
        latency = metrics.get(Metric.LATENCY_US)
        found = front_mod.violations(None if latency is None else latency / 1e3, self.spec,
                                     accuracy=metrics.get(Metric.TEST_ACCURACY), mse=metrics.get(Metric.TEST_MSE))
        _constrain(trial, found)
        trial.set_user_attr(front_mod.RUN_ATTR, run_id)
        source = tags.get(Tag.LATENCY_SOURCE, "estimate")
        trial.set_user_attr(front_mod.LATENCY_SOURCE_ATTR, source)
        if source == front_mod.MEASURED:
            for attr, metric in ((front_mod.MEASURED_MIN_ATTR, Metric.LATENCY_MIN_US),
                                 (front_mod.MEASURED_MAX_ATTR, Metric.LATENCY_MAX_US)):
                if metric in metrics:
                    trial.set_user_attr(attr, metrics[metric] / 1e3)
        self.study.tell(trial, values, state=TrialState.COMPLETE)
        self.counts["trained"] += 1
        shown = ", ".join(f"{o} {front_mod.format_value(o, v)}" for o, v in zip(self.spec.objectives, values))
        over = (f"; {source} latency over the {self.spec.limits.latency_ms:g} ms limit: infeasible"
                if found["latency_ms_over"] > 0 else "")
        note = " (an identical config had already finished: not retrained)" if skipped else ""
        self.say(f"trial {trial.number} [{run_id[:8]}]: {shown}; latency {source}"
                 f"{'; ' + flag if flag else ''}{over}{note}")
        return True

    def _ended(self, run_id: str) -> Any:
        """The run of an identical config, once it has ended: another worker may be running it
        (waited for while its process lives; one on another host, until it ends)."""
        while True:
            run = self.client.get_run(run_id)
            host, pid = run.data.tags.get(Tag.HOST), run.data.tags.get(Tag.PID, "")
            gone = host == socket.gethostname() and pid.isdigit() and not alive(int(pid))
            if run.info.status != "RUNNING" or gone:
                return run
            time.sleep(_WAIT_S)

    def _fail(self, trial: Any, why: str) -> None:
        from optuna.trial import TrialState

        trial.set_user_attr("error", why[:500])
        self.study.tell(trial, state=TrialState.FAIL)
        self.counts["failed"] += 1
        self.say(f"trial {trial.number}: failed: {why}")

    def _prune(self, trial: Any, cfg: Any, overrides: list[str], checked: Screen, reason: str) -> None:
        from optuna.trial import TrialState

        over = excesses(checked, self.spec.limits)
        size_over = max(over.get("flash", 0.0), over.get("RAM", 0.0), 1.0 if checked.tflm_refusal else 0.0)
        latency_over = checked.latency_low_ms if "latency" in over else None
        _constrain(trial, front_mod.violations(latency_over, self.spec, size_over))
        trial.set_user_attr(PRUNED_ATTR, reason)
        self._pruned_run(trial, cfg, overrides, checked, reason)
        self.study.tell(trial, state=TrialState.PRUNED)
        self.counts["pruned"] += 1
        if over and (self.closest is None or max(over.values()) < self.closest[0]):
            self.closest = (max(over.values()), trial.number, reason)
        self.say(f"trial {trial.number}: pruned before training: {reason}")

    def _pruned_run(self, trial: Any, cfg: Any, overrides: list[str], checked: Screen, reason: str) -> None:
        """A FINISHED run under the parent saying why this candidate never trained."""
        tags = {Tag.SWEEP_ID: self.target.search_id, Tag.PARENT_RUN_ID: self.parent_id,
                Tag.SEARCH_TRIAL: str(trial.number), Tag.SEARCH_PARAMS: json.dumps(trial.params),
                Tag.SEARCH_PRUNED: reason, Tag.CONFIG_HASH: sweep.config_hash(cfg),
                Tag.HYDRA_OVERRIDES: " ".join(overrides), Tag.LATENCY_SOURCE: "not_measured"}
        run = self.client.create_run(self.experiment_id, run_name=f"{run_name(overrides)} (pruned)", tags=tags)
        status = "FAILED"
        try:
            figures = {Metric.MODEL_BYTES: checked.model_bytes, Metric.ARENA_REQUIRED_BYTES: checked.arena_bytes,
                       Metric.LATENCY_ESTIMATE_LOW_US: _us(checked.latency_low_ms),
                       Metric.LATENCY_ESTIMATE_HIGH_US: _us(checked.latency_high_ms)}
            for name, value in figures.items():
                if value is not None:
                    self.client.log_metric(run.info.run_id, name, float(value))
            status = "FINISHED"
        finally:
            self.client.set_terminated(run.info.run_id, status=status)

    def publish_front(self) -> front_mod.FrontTable:
        """The front as a table and a figure, logged to the parent run with the search's
        declaration, its trials by state and each objective's chosen trial; the trained trials'
        runs tagged whether they are on the front (a resumed search's front may have moved)."""
        from optuna.trial import TrialState

        complete = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        # A config asked twice is one run, trained once: one point, the first trial asking it.
        by_run = {t.user_attrs[front_mod.RUN_ATTR]: t for t in reversed(complete) if front_mod.RUN_ATTR in t.user_attrs}
        trained = sorted(by_run.values(), key=lambda t: t.number)
        trials = front_mod.pareto_front(self.spec, trained)
        table = front_mod.front_table(self.spec, trials)
        best = front_mod.best_per_objective(self.spec, trials) if trials else {}
        on_front = {t.number for t in trials}
        for run_id, t in by_run.items():
            chosen = ",".join(o for o, b in best.items() if b.number == t.number)
            self.client.set_tag(run_id, Tag.SEARCH_TRIAL, str(t.number))
            self.client.set_tag(run_id, Tag.SEARCH_FRONT, str(t.number in on_front).lower())
            self.client.set_tag(run_id, Tag.SEARCH_BEST, chosen)
        self._tag_parent(best)
        self.client.log_text(self.parent_id, table.text() + "\n", Artifact.SEARCH_FRONT_TEXT)
        if trials:
            self.client.log_table(self.parent_id, table.as_log_table(), Artifact.SEARCH_FRONT_TABLE)
        with tempfile.TemporaryDirectory(prefix="tinyexp-search-") as folder:
            drawn = front_figure(self.spec, trained, trials, Path(folder) / Artifact.SEARCH_FRONT_FIGURE)
            if drawn is not None:
                self.client.log_artifact(self.parent_id, str(drawn))
        return table

    def _tag_parent(self, best: dict[str, Any]) -> None:
        """What `tinyexp report` reads back: the declaration, the study's trials by state, and
        each objective's chosen trial (`mse: trial 5 (run f663fcbe); ...`)."""
        from optuna.trial import TrialState

        states = {"completed": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "failed": TrialState.FAIL}
        counts = {key: len(self.study.get_trials(deepcopy=False, states=(state,))) for key, state in states.items()}
        chosen = "; ".join(f"{o}: trial {t.number} (run {t.user_attrs[front_mod.RUN_ATTR][:8]})"
                           for o, t in best.items())
        record_spec(self.client, self.parent_id, spec_json(self.spec))
        self.client.set_tag(self.parent_id, Tag.SEARCH_COUNTS, json.dumps(counts))
        self.client.set_tag(self.parent_id, Tag.SEARCH_BEST, chosen)


def _us(ms: float | None) -> float | None:
    return None if ms is None else ms * 1e3


def run_trials(spec: SearchSpec, base_overrides: Sequence[str], compose: Compose, target: SearchTarget,
               worker: int, say: Callable[[str], None] = print) -> dict[str, int]:
    """Worker `worker`'s share of a search (n_jobs > 1): trials until the study's budget is
    taken; its counts. Several workers share the study: each claims the trials it asks."""
    search = _Search(spec, base_overrides, compose, target, say, worker)
    search.run()
    return search.counts


def run_search(spec: SearchSpec, base_overrides: Sequence[str], compose: Compose, target: SearchTarget,
               say: Callable[[str], None] = print,
               workers: Callable[[], Sequence[dict[str, int]]] | None = None) -> SearchResult:
    """Run (or resume) the search until its study holds `spec.trials` finished trials; return
    its Pareto front (feasible trials only when limits were declared). With `workers`, they run
    the trials (each :func:`run_trials` in its own process) once the study is open here."""
    search = _Search(spec, base_overrides, compose, target, say)  # a killed search's trials recovered once
    done = trials_done(search.study)
    if done:
        say(f"search {target.search_id}: resuming with {done} of {spec.trials} trials done")
    if workers is None:
        search.run()
        counts = search.counts
    else:
        shares = workers()
        counts = {key: sum(share[key] for share in shares) for key in search.counts}
    return SearchResult(search.parent_id, search.publish_front(), counts)
