"""Settings grouped per component, read from the same ``DOJO_*`` variables as ever.

The rule (dojo/config.py): ``DOJO_<GROUP>_<FIELD>`` is ``settings.<group>.<field>``, a
group's own ``DOJO_<GROUP>`` its ``bare`` field, a general ``DOJO_<FIELD>`` ``settings.<field>``;
in code a setting is named by its key, the variable in lower case without ``DOJO_``.
"""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import SecretStr, ValidationError

from dojo.config import VARIABLES, Settings, Variable, nest, variable_at
from dojo.config_table import effective
from dojo.workers.supervisor import child_environment

#: every variable Settings read before its settings were grouped (issue 23): deployments
#: set these names, so none may go and none may appear unnoticed
VARIABLE_NAMES = frozenset(
    {
        "ANTHROPIC_API_KEY",
        "DOJO_AAT_PATH",
        "DOJO_ANTHROPIC_API_KEY",
        "DOJO_ANTHROPIC_API_KEY_FILE",
        "DOJO_BROKER_BIN",
        "DOJO_BROKER_HOST",
        "DOJO_BROKER_PORT",
        "DOJO_CHAT_MAX_TEXT_TOKENS",
        "DOJO_CONSUMER_COMMIT_INTERVAL_S",
        "DOJO_CONSUMER_HEARTBEAT_INTERVAL_S",
        "DOJO_CONSUMER_SESSION_TIMEOUT_S",
        "DOJO_CURRICULUM_AUTO",
        "DOJO_CURRICULUM_WINDOW",
        "DOJO_DASHBOARD",
        "DOJO_DASHBOARD_HOST",
        "DOJO_DASHBOARD_PORT",
        "DOJO_DATA_DIR",
        "DOJO_DRIFT_KS_COEFFICIENT",
        "DOJO_DRIFT_LATENESS_S",
        "DOJO_DRIFT_MIN_PAIRS",
        "DOJO_DRIFT_PH_THRESHOLD",
        "DOJO_DRIFT_PSI_THRESHOLD",
        "DOJO_DRIFT_RANK_DROP_Z",
        "DOJO_DRIFT_REFERENCE_MIN_PAIRS",
        "DOJO_DRIFT_REFERENCE_WINDOWS",
        "DOJO_DRIFT_STEP_S",
        "DOJO_DRIFT_WINDOW",
        "DOJO_DRIFT_WINDOW_S",
        "DOJO_ENV_BACKEND",
        "DOJO_ENV_EPISODE_TYPES",
        "DOJO_ENV_FOCUS",
        "DOJO_ENV_FOCUS_TEMPERATURE",
        "DOJO_ENV_LEDGER",
        "DOJO_ENV_LOCKSTEP",
        "DOJO_ENV_MAX_HELD",
        "DOJO_ENV_RETAIN_UNTIL",
        "DOJO_ENV_SETTLE_TIMEOUT_S",
        "DOJO_ENV_VERSION_LEAD",
        "DOJO_ENV_VERSION_WAIT_S",
        "DOJO_ENV_WORKERS",
        "DOJO_EVAL_BANK_SIZE",
        "DOJO_EVAL_BASE_MODEL",
        "DOJO_EVAL_COMPREHENSIVE_TASKS",
        "DOJO_EVAL_FULL_EVERY",
        "DOJO_EVAL_FULL_TASKS",
        "DOJO_EVAL_MAX_TEXT_TOKENS",
        "DOJO_EVAL_PHASE_BUDGET",
        "DOJO_EVAL_QUICK_EVERY",
        "DOJO_EVAL_QUICK_TASKS",
        "DOJO_EVAL_TEAM_WINDOW",
        "DOJO_EVAL_WORKERS",
        "DOJO_JUDGE",
        "DOJO_JUDGE_BASE_URL",
        "DOJO_JUDGE_BREAKER_COOLDOWN_S",
        "DOJO_JUDGE_BREAKER_FAILURES",
        "DOJO_JUDGE_CONCURRENCY",
        "DOJO_JUDGE_DOUBLE_FRACTION",
        "DOJO_JUDGE_MAX_ATTEMPTS",
        "DOJO_JUDGE_MODEL",
        "DOJO_JUDGE_SAMPLE_EVERY",
        "DOJO_JUDGE_SAMPLE_UNIT",
        "DOJO_JUDGE_SPEND_CAP_USD",
        "DOJO_JUDGE_TIMEOUT_S",
        "DOJO_KAFKA_BOOTSTRAP",
        "DOJO_KAFKA_REPLICATION_FACTOR",
        "DOJO_KAFKA_SASL_MECHANISM",
        "DOJO_KAFKA_SASL_PASSWORD",
        "DOJO_KAFKA_SASL_PASSWORD_FILE",
        "DOJO_KAFKA_SASL_USERNAME",
        "DOJO_KAFKA_SECURITY_PROTOCOL",
        "DOJO_KAFKA_SSL_CAFILE",
        "DOJO_KAFKA_SSL_CERTFILE",
        "DOJO_KAFKA_SSL_KEYFILE",
        "DOJO_LEARNER",
        "DOJO_LEARNER_AVERAGE_DECAY",
        "DOJO_LEARNER_BATCH_SIZE",
        "DOJO_LEARNER_CHECKPOINT_EVERY",
        "DOJO_LEARNER_CLIP_COEF",
        "DOJO_LEARNER_ENTROPY_COEF",
        "DOJO_LEARNER_EPOCHS",
        "DOJO_LEARNER_GAE_LAMBDA",
        "DOJO_LEARNER_GAMMA",
        "DOJO_LEARNER_KEEP_VERSIONS",
        "DOJO_LEARNER_KL_COEF",
        "DOJO_LEARNER_LORA_ALPHA",
        "DOJO_LEARNER_LORA_R",
        "DOJO_LEARNER_LR",
        "DOJO_LEARNER_MAX_GRAD_NORM",
        "DOJO_LEARNER_MAX_POLICY_LAG",
        "DOJO_LEARNER_MINIBATCH_SIZE",
        "DOJO_LEARNER_PUBLISH_EVERY",
        "DOJO_LEARNER_QLORA",
        "DOJO_LEARNER_SEED",
        "DOJO_LEARNER_TORCH_THREADS",
        "DOJO_LEARNER_WARMUP_STEPS",
        "DOJO_LOG_LEVEL",
        "DOJO_MONITOR_REFRESH_S",
        "DOJO_POLICY",
        "DOJO_POLICY_DEVICE",
        "DOJO_POLICY_MAX_TEXT_TOKENS",
        "DOJO_POLICY_TEMPERATURE",
        "DOJO_RESTART_BACKOFF_S",
        "DOJO_RESTART_LIMIT",
        "DOJO_RESTART_MIN_UPTIME_S",
        "DOJO_REWARD_CONFIG",
        "DOJO_SCORING_BATCH_SIZE",
        "DOJO_SCORING_BATCH_WITHIN_S",
        "DOJO_SCORING_EPISODE_TTL_S",
        "DOJO_SERVE_API_KEY",
        "DOJO_SERVE_API_KEY_FILE",
        "DOJO_SERVE_HOST",
        "DOJO_SERVE_MAX_BODY_BYTES",
        "DOJO_SERVE_MAX_PROMPT_TOKENS",
        "DOJO_SERVE_MAX_QUEUED",
        "DOJO_SERVE_MAX_TOKENS",
        "DOJO_SERVE_PORT",
        "DOJO_SINK_BATCHES_IN_FLIGHT",
        "DOJO_SINK_BATCH_SIZE",
        "DOJO_SINK_BATCH_WITHIN_S",
        "DOJO_STAGE",
        "DOJO_STORE_PATH",
        "DOJO_STORE_URL",
        "DOJO_STREAMS_WEB_HOST",
        "DOJO_STREAMS_WEB_PORT",
        "DOJO_TOPIC_PREFIX",
        "DOJO_TORCH_THREADS",
    }
)


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No DOJO_* (or other settings) variable of this machine's."""
    for variable in VARIABLES.values():
        for name in variable.names:
            monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_variables_are_the_ones_deployments_set() -> None:
    names = [n for v in VARIABLES.values() for n in v.names]
    assert len(names) == len(set(names))  # no variable sets two settings
    assert set(names) == VARIABLE_NAMES


def test_each_variable_is_read_into_its_place(clean: pytest.MonkeyPatch) -> None:
    """Every variable, set alone, changes exactly the setting it names."""
    defaults = Settings()
    for variable in VARIABLES.values():
        value = _another_value(variable.value(defaults), variable)
        clean.setenv(variable.name, value)
        try:
            settings = Settings()
        finally:
            clean.delenv(variable.name)
        changed = {k for k, v in effective(settings).items() if v != effective(defaults)[k]}
        # (a secret's file sets the secret too)
        also = {variable.name.removesuffix("_FILE")}
        assert changed == {variable.name} | (also if variable.key.endswith("_file") else set()), (
            variable.key
        )
        # and the key in code sets the same value
        assert effective(Settings(**{variable.key: value})) == effective(settings), variable.key


def _another_value(value: object, variable: Variable) -> str:
    """A valid value of ``variable`` other than its default ``value``."""
    key = variable.key
    special = {
        "env_episode_types": "E-1.1,E-1.3",
        "env_retain_until": "stored",
        "env_backend": "aat",
        "judge": "anthropic",
        "judge_sample_unit": "episode",
        "drift_window": "hopping",
        "kafka_bootstrap": "kafka:9092",
        "kafka_security_protocol": "SSL",
        "kafka_sasl_mechanism": "PLAIN",
        "log_level": "debug",
        "policy_device": "cpu",
        "topic_prefix": "other",
        "eval_bank_size": "120",
        "eval_phase_budget": "3.0",
        "store_url": "http://sink:6066/store/query",
    }
    if key in special:
        return special[key]
    if key.endswith("_file"):
        return __file__  # a readable, non-empty file
    if value is None:  # unset by default: a value of the type it takes when set
        kinds = get_args(variable.info.annotation)
        return "3" if int in kinds else "0.5" if float in kinds else "other"
    if isinstance(value, bool):
        return "false" if value else "true"
    if isinstance(value, int):
        return str(value + 1 if key != "stage" else 2)
    if isinstance(value, float):
        return str((value / 2 if value else 0.5) if key in _FRACTIONS else value + 1)
    return "other"


_FRACTIONS = {
    "env_focus",
    "judge_double_fraction",
    "learner_gamma",
    "learner_gae_lambda",
    "learner_average_decay",
}


def test_the_rule_names_each_place() -> None:
    assert VARIABLES["learner_lr"].path == ("learner", "lr")
    assert VARIABLES["kafka_bootstrap"].path == ("kafka", "bootstrap")
    assert VARIABLES["policy"].path == ("policy", "name")  # a group's own variable
    assert VARIABLES["policy_temperature"].path == ("policy", "temperature")
    assert VARIABLES["learner"].path == ("learner", "enabled")
    assert VARIABLES["judge"].path == ("judge", "backend")
    assert VARIABLES["stage"].path == ("stage",)  # a general setting
    assert VARIABLES["anthropic_api_key"].names == ("DOJO_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY")
    for variable in VARIABLES.values():
        *group, field = variable.path
        bare = group and variable.key == group[0]
        expected = "_".join(group if bare else [*group, field])
        assert variable.name == f"DOJO_{expected.upper()}", variable


def test_code_and_environment_merge_value_by_value(clean: pytest.MonkeyPatch) -> None:
    clean.setenv("DOJO_LEARNER_BATCH_SIZE", "7")
    clean.setenv("DOJO_LEARNER_LR", "0.01")
    clean.setenv("DOJO_POLICY", "senior")
    clean.setenv("DOJO_POLICY_TEMPERATURE", "0.5")
    settings = Settings(learner_lr=0.002, policy="junior")
    assert settings.learner.lr == 0.002  # code wins
    assert settings.learner.batch_size == 7  # the group's other variables stay
    assert settings.policy.name == "junior"
    assert settings.policy.temperature == 0.5
    clean.setenv("DOJO_LEARNER", "false")  # a group's own variable beside its others
    assert Settings().learner.enabled is False
    assert Settings().learner.batch_size == 7
    clean.setenv("dojo_stage", "3")  # names match whatever their case, as before
    assert Settings().stage == 3


def test_a_plain_value_for_a_group_variable_is_not_json(clean: pytest.MonkeyPatch) -> None:
    clean.setenv("DOJO_POLICY", "tiny")  # a group's own variable: a plain string
    clean.setenv("DOJO_JUDGE", "anthropic")
    clean.setenv("DOJO_DASHBOARD", "0")
    settings = Settings()
    assert (settings.policy.name, settings.judge.backend) == ("tiny", "anthropic")
    assert settings.dashboard.enabled is False


def test_an_unknown_key_is_an_error() -> None:
    with pytest.raises(TypeError, match="learner_learning_rate"):
        Settings(learner_learning_rate=0.1)
    with pytest.raises(TypeError, match="no such setting: learner_lrr"):
        Settings().replace(learner_lrr=0.1)
    with pytest.raises(TypeError, match="no such setting: lr "):
        nest({"learner": False, "lr": 1})  # learner is DOJO_LEARNER; lr names nothing


def test_replace_validates_and_reaches_into_groups(clean: pytest.MonkeyPatch) -> None:
    settings = Settings(learner_lr=0.002)
    changed = settings.replace(scoring_batch_within_s=0.1, stage=2, learner=False)
    assert changed.scoring.batch_within_s == 0.1 and changed.stage == 2
    assert changed.learner.enabled is False and changed.learner.lr == 0.002
    assert settings.scoring.batch_within_s == 0.2 and settings.learner.enabled  # a copy
    clean.setenv("DOJO_STAGE", "4")  # the environment is not read again
    assert settings.replace(learner_lr=0.1).stage == 1
    with pytest.raises(ValidationError) as caught:
        settings.replace(scoring_batch_within_s=-1)
    assert variable_at(caught.value.errors()[0]["loc"]) == "DOJO_SCORING_BATCH_WITHIN_S"
    with pytest.raises(ValidationError):
        settings.replace(stage=9)
    with pytest.raises(TypeError, match="replace"):
        settings.model_copy(update={"scoring_batch_within_s": 0.1})
    assert settings.model_copy() == settings


def test_validation_errors_name_the_variable(clean: pytest.MonkeyPatch) -> None:
    for name, value in (
        ("DOJO_STAGE", "9"),
        ("DOJO_POLICY_DEVICE", "tpu"),
        ("DOJO_LEARNER", "maybe"),
        ("DOJO_KAFKA_BOOTSTRAP", "no-port"),
        ("DOJO_ENV_EPISODE_TYPES", "E-9.9"),
        ("DOJO_DRIFT_PSI_THRESHOLD", "0"),
        ("DOJO_JUDGE_TIMEOUT_S", "inf"),
    ):
        clean.setenv(name, value)
        with pytest.raises(ValidationError) as caught:
            Settings()
        clean.delenv(name)
        assert [variable_at(e["loc"]) for e in caught.value.errors()] == [name]


def test_settings_survive_the_trip_to_a_child(clean: pytest.MonkeyPatch) -> None:
    settings = Settings(
        policy="senior",
        learner_lr=0.01,
        env_episode_types=("E-1.1",),
        learner=False,
        anthropic_api_key=SecretStr("sk-test"),
        drift_step_s=10,
    )
    for name, value in child_environment(settings).items():
        clean.setenv(name, value)
    assert Settings() == settings
