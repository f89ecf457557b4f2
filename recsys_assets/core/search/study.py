"""The adaptive search: an Optuna study that proposes configs from a search plan and learns from
their learning curves. Its trials are model configs like the fixed ones, keyed the same way."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import optuna
import sqlalchemy
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from recsys_assets.core.models.config import ModelConfig
from recsys_assets.core.models.parameters import ConfigError
from recsys_assets.core.models.registry import DEFAULT_FAMILY, FAMILIES, make_config
from recsys_assets.core.search.space import Choices, Range, SearchPlan
from recsys_assets.core.storage.database_urls import shown_url

CONFIG_KEY_ATTRIBUTE = "config_key"
FAMILY_ATTRIBUTE = "model"
MODEL_PARAMETER = "model"
"""The trial parameter that picks the family when a plan searches more than one."""
KNOWN_ATTRIBUTE = "trained_outside_the_search"
REPEATED_ATTRIBUTE = "repeats_a_trained_config"
REFUSED_ATTRIBUTE = "broke_a_combination_rule"
OPENED_ATTRIBUTE = "last_opened_for_searching"
MAX_REPEATED_PROPOSALS = 20
"""Proposals in a row of configs already trained after which the search space counts as exhausted."""
MAX_FAILED_TRIALS_IN_A_ROW = 3
"""Trials in a row whose training failed after which the search stops."""
STARTUP_TRIALS = 4
"""Finished trials (warm-start ones included) before the TPE sampler models instead of guessing."""
PROPOSAL_ATTEMPTS = 20
"""How many proposals may break a combination rule before the search gives up on one trial."""


class StudyUnavailable(RuntimeError):
    """The search's study database cannot be opened, read or written."""


def _innermost(error: BaseException) -> str:
    while error.__cause__ or error.__context__:
        error = error.__cause__ or error.__context__
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


@contextmanager
def study_errors(url: str) -> Iterator[None]:
    """Turn a failure of the study's database into one StudyUnavailable that names it and says why."""
    try:
        yield
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, optuna.exceptions.StorageInternalError) as error:
        raise StudyUnavailable(
            f"the search study at {shown_url(url)} cannot be used: {_innermost(error)}. Check"
            " RECSYS_STUDY_URL (a database this user can write), or move a damaged study file away"
            " (the search then starts afresh)."
        ) from error


def open_study(url: str, plan: SearchPlan, writable: bool = False) -> optuna.Study:
    """The plan's study in the storage at `url` (created on first use), its sampler seeded by the
    plan's seed and the trials already run, so a later retrain proposes new configs. With
    `writable`, a write proves the database takes them. StudyUnavailable when it cannot be used."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
        if plan.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    with study_errors(url):
        study = optuna.create_study(
            storage=url, study_name=plan.study_name, direction="maximize", load_if_exists=True
        )
        if writable:
            study.set_user_attr(OPENED_ATTRIBUTE, datetime.now().isoformat(timespec="seconds"))
        seed = plan.seed + len(study.get_trials(deepcopy=False))
        return optuna.load_study(
            study_name=plan.study_name,
            storage=url,
            sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=STARTUP_TRIALS),
            pruner=pruner,
        )


def _distribution(name: str, spec: object) -> BaseDistribution:
    if isinstance(spec, Choices):
        return CategoricalDistribution(list(spec.values))
    if spec.integer:
        return IntDistribution(int(spec.low), int(spec.high), log=spec.log)
    return FloatDistribution(spec.low, spec.high, log=spec.log)


def _suggest(trial: optuna.Trial, name: str, spec: Choices | Range) -> object:
    if isinstance(spec, Choices):
        return trial.suggest_categorical(name, list(spec.values))
    if spec.integer:
        return trial.suggest_int(name, int(spec.low), int(spec.high), log=spec.log)
    return trial.suggest_float(name, spec.low, spec.high, log=spec.log)


def _readable(params: dict[str, object]) -> dict[str, object]:
    """Float parameters to 4 significant digits, so config keys stay readable."""
    return {
        name: float(f"{value:.4g}") if isinstance(value, float) else value for name, value in params.items()
    }


def _trial_name(family: str, name: str) -> str:
    """A parameter's name in the study, prefixed as its family says (families share names)."""
    return FAMILIES[family].study_parameter_prefix + name


def _distributions(plan: SearchPlan, family: str) -> dict[str, BaseDistribution]:
    """The study's distributions of a trial of `family`: the family pick (when the plan searches
    several) first, then the family's parameters."""
    picked = {MODEL_PARAMETER: CategoricalDistribution(list(plan.models))} if len(plan.models) > 1 else {}
    return picked | {
        _trial_name(family, name): _distribution(name, spec) for name, spec in plan.space_of(family).items()
    }


def _trial_config(trial: FrozenTrial | optuna.Trial) -> ModelConfig:
    """The config a trial proposed, from its family and parameters as the study holds them."""
    family = trial.user_attrs.get(FAMILY_ATTRIBUTE, DEFAULT_FAMILY)
    prefix = FAMILIES[family].study_parameter_prefix
    given = {
        name.removeprefix(prefix): value
        for name, value in trial.params.items()
        if name != MODEL_PARAMETER
        and name.startswith(prefix)
        and name.removeprefix(prefix) in FAMILIES[family].parameters
    }
    return make_config(f"trial {trial.number}", family, _readable(given))


def propose(study: optuna.Study, plan: SearchPlan) -> tuple[int, ModelConfig]:
    """Ask the study for a new trial (its family first, when the plan searches several, then
    that family's parameters); return its number and its config (key from its params)."""
    for _ in range(PROPOSAL_ATTEMPTS):
        trial = study.ask()
        family = (
            trial.suggest_categorical(MODEL_PARAMETER, list(plan.models))
            if len(plan.models) > 1
            else plan.models[0]
        )
        for name, spec in plan.space_of(family).items():
            _suggest(trial, _trial_name(family, name), spec)
        trial.set_user_attr(FAMILY_ATTRIBUTE, family)
        try:
            config = _trial_config(trial)
        except ConfigError:
            trial.set_user_attr(REFUSED_ATTRIBUTE, True)
            study.tell(trial, state=TrialState.FAIL)
            continue
        trial.set_user_attr(CONFIG_KEY_ATTRIBUTE, config.key)
        return trial.number, config
    raise ConfigError(f"{PROPOSAL_ATTEMPTS} proposals in a row broke a combination rule; widen the ranges")


def _in_plan(spec: Choices | Range, value: object) -> bool:
    if isinstance(spec, Choices):
        return value in spec.values
    return isinstance(value, (int, float)) and spec.low <= value <= spec.high


def warm_start(
    study: optuna.Study, plan: SearchPlan, known: list[tuple[ModelConfig, float, dict[int, float]]]
) -> list[str]:
    """Record configs trained outside the search (config, validation result, learning curve) as
    finished trials, so the sampler and the pruner start from them; they do not count against
    the budget. Configs of a family the plan does not search, or outside its space, are left
    out. Returns the keys added."""
    recorded = {trial.user_attrs.get(CONFIG_KEY_ATTRIBUTE) for trial in study.get_trials(deepcopy=False)}
    added = []
    for config, value, curve in known:
        family = config.family
        if config.key in recorded or family not in plan.models:
            continue
        space = plan.space_of(family)
        point = {name: config.params.get(name, FAMILIES[family].parameters[name].default) for name in space}
        if not all(_in_plan(space[name], v) for name, v in point.items()):
            continue
        distributions = _distributions(plan, family)
        named = {_trial_name(family, name): v for name, v in point.items()}
        study.add_trial(
            optuna.trial.create_trial(
                params=({MODEL_PARAMETER: family} if MODEL_PARAMETER in distributions else {}) | named,
                distributions=distributions,
                value=value,
                intermediate_values=curve,
                user_attrs={
                    CONFIG_KEY_ATTRIBUTE: config.key,
                    KNOWN_ATTRIBUTE: True,
                    FAMILY_ATTRIBUTE: family,
                },
            )
        )
        added.append(config.key)
    return added


def trial_configs(study: optuna.Study) -> dict[str, tuple[int, ModelConfig, TrialState]]:
    """Every search trial that named a config and did not fail, by config key: number, config,
    state (warm-start records of configs trained outside the search are not trials)."""
    found = {}
    for trial in study.get_trials(deepcopy=False):
        key = trial.user_attrs.get(CONFIG_KEY_ATTRIBUTE)
        if key and trial.state != TrialState.FAIL and not trial.user_attrs.get(KNOWN_ATTRIBUTE):
            found[key] = (trial.number, _trial_config(trial), trial.state)
    return found


def with_trials(
    fixed: list[ModelConfig], trials: dict[str, tuple[int, ModelConfig, TrialState]]
) -> list[ModelConfig]:
    """The fixed configs, then the configs of `trials` (as `trial_configs` gives) not among them."""
    keys = {config.key for config in fixed}
    return fixed + [config for key, (_, config, _) in trials.items() if key not in keys]


def _trial(study: optuna.Study, number: int) -> optuna.Trial:
    frozen = next(trial for trial in study.get_trials(deepcopy=False) if trial.number == number)
    return optuna.Trial(study, frozen._trial_id)


def report(study: optuna.Study, number: int, epoch: int, value: float) -> bool:
    """Record a point of trial `number`'s learning curve; False when the pruner stops it."""
    trial = _trial(study, number)
    trial.report(value, epoch)
    return not trial.should_prune()


def finish(
    study: optuna.Study, number: int, value: float | None, pruned: bool = False, repeated: bool = False
) -> None:
    """Record how trial `number` ended: its validation hit rate, pruned, or (value None) failed;
    `repeated` when it proposed a config already trained, whose result it takes."""
    if repeated:
        _trial(study, number).set_user_attr(REPEATED_ATTRIBUTE, True)
    if pruned:
        study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
    elif value is None:
        study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
    else:
        study.tell(number, value, skip_if_finished=True)


def trials_run(study: optuna.Study) -> int:
    """Search trials that trained a model: complete or pruned (warm-start records excluded)."""
    return sum(
        trial.state in (TrialState.COMPLETE, TrialState.PRUNED) and not trial.user_attrs.get(KNOWN_ATTRIBUTE)
        for trial in study.get_trials(deepcopy=False)
    )


def trials_left(plan: SearchPlan, trials_run: int, in_flight: int = 0) -> bool:
    """Whether the plan's trial budget allows another trial (always, without one)."""
    return plan.trials is None or trials_run + in_flight < plan.trials


@dataclass(frozen=True)
class SearchProgress:
    """Where a search stands: trials run and in flight, time spent since it started (this
    retrain, or the night's data build), and how its latest trials ended."""

    trials_run: int
    in_flight: int = 0
    seconds_spent: float = 0.0
    failures_in_a_row: int = 0
    repeats_in_a_row: int = 0


def search_progress(
    study: optuna.Study, since: datetime, in_flight: int = 0, seconds_spent: float = 0.0
) -> SearchProgress:
    """The progress the study records, with what the caller knows of runs in flight and time;
    failures and repeats in a row count the trials started `since` (this retrain, this night)."""
    ended = [
        trial
        for trial in study.get_trials(deepcopy=False)
        if trial.state != TrialState.RUNNING
        and trial.datetime_start is not None
        and trial.datetime_start >= since
        and not trial.user_attrs.get(KNOWN_ATTRIBUTE)
        and not trial.user_attrs.get(REFUSED_ATTRIBUTE)
    ]

    def trailing(ended_so: Callable[[FrozenTrial], bool]) -> int:
        count = 0
        for trial in reversed(ended):
            if not ended_so(trial):
                break
            count += 1
        return count

    return SearchProgress(
        trials_run=trials_run(study),
        in_flight=in_flight,
        seconds_spent=seconds_spent,
        failures_in_a_row=trailing(lambda trial: trial.state == TrialState.FAIL),
        repeats_in_a_row=trailing(lambda trial: trial.user_attrs.get(REPEATED_ATTRIBUTE, False)),
    )


def search_exhausted(study: optuna.Study) -> bool:
    """Whether the study's latest trials only proposed configs already trained, so the search
    ended with nothing new to try (until the search space, and with it the study, changes)."""
    return search_progress(study, datetime.min).repeats_in_a_row >= MAX_REPEATED_PROPOSALS


@dataclass(frozen=True)
class SearchStep:
    """What a search does next: propose a trial, or not (and why, in one line)."""

    propose: bool
    reason: str


def next_search_step(plan: SearchPlan, progress: SearchProgress, max_in_flight: int = 1) -> SearchStep:
    """The one rule the retrain driver and the sensors follow between two trials."""
    if not trials_left(plan, progress.trials_run, progress.in_flight):
        return SearchStep(False, f"the search's budget of {plan.trials} trials is spent")
    if plan.time_budget_minutes and progress.seconds_spent > plan.time_budget_minutes * 60:
        return SearchStep(False, f"the search's time budget of {plan.time_budget_minutes:g} minutes is spent")
    if progress.failures_in_a_row >= MAX_FAILED_TRIALS_IN_A_ROW:
        return SearchStep(False, f"{progress.failures_in_a_row} trials failed in a row: the search stops")
    if progress.repeats_in_a_row >= MAX_REPEATED_PROPOSALS:
        return SearchStep(False, "the search keeps proposing configs already trained: the space is exhausted")
    if progress.in_flight >= max_in_flight:
        return SearchStep(False, f"{progress.in_flight} trials in flight, the most training runs at once")
    return SearchStep(True, "a trial is proposed")
