"""Versioned schema migrations of the episode store.

Migrations only ever append: a new entry at the end of ``MIGRATIONS``, never an
edit of an applied one. ``schema_migrations`` records what ran.
"""

from __future__ import annotations

import duckdb

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "initial tables",
        """
        CREATE TABLE events (
            event_id       UUID PRIMARY KEY,
            type           VARCHAR NOT NULL,
            schema_version INTEGER NOT NULL,
            produced_at    TIMESTAMPTZ NOT NULL,
            source         VARCHAR NOT NULL,
            episode_id     VARCHAR,
            topic          VARCHAR NOT NULL,
            "partition"    INTEGER NOT NULL,
            "offset"       BIGINT NOT NULL,
            stored_at      TIMESTAMPTZ NOT NULL,
            payload        JSON NOT NULL
        );
        CREATE TABLE episodes (
            episode_id         VARCHAR PRIMARY KEY,
            episode_type       VARCHAR,
            stage              INTEGER,
            seed               BIGINT,
            difficulty         DOUBLE,
            policy_version     VARCHAR,
            source             VARCHAR,
            scenario           VARCHAR,
            started_event_id   UUID,
            started_at         TIMESTAMPTZ,
            completed_event_id UUID,
            completed_at       TIMESTAMPTZ,
            status             VARCHAR,
            decision_count     INTEGER,
            event_count        INTEGER,
            outcome            JSON,
            behaviour_metrics  JSON
        );
        CREATE TABLE decisions (
            event_id             UUID PRIMARY KEY,
            decision_id          VARCHAR NOT NULL,
            episode_id           VARCHAR NOT NULL,
            step                 INTEGER NOT NULL,
            phase                VARCHAR NOT NULL,
            policy_version       VARCHAR NOT NULL,
            produced_at          TIMESTAMPTZ NOT NULL,
            prompt_text          VARCHAR NOT NULL,
            prompt_token_ids     INTEGER[] NOT NULL,
            completion_text      VARCHAR NOT NULL,
            completion_token_ids INTEGER[] NOT NULL,
            logprobs             DOUBLE[] NOT NULL,
            allowed_token_ids    JSON,
            move_name            VARCHAR NOT NULL,
            move_args            JSON NOT NULL,
            move_text            VARCHAR NOT NULL,
            move_valid           BOOLEAN NOT NULL,
            move_error           VARCHAR,
            consequences         JSON NOT NULL,
            signals              JSON NOT NULL,
            transition           VARCHAR,
            transition_correct   BOOLEAN,
            generation_ms        DOUBLE NOT NULL
        );
        CREATE TABLE rewards (
            event_id           UUID PRIMARY KEY,
            decision_id        VARCHAR NOT NULL,
            episode_id         VARCHAR NOT NULL,
            reward_version     VARCHAR NOT NULL,
            judge_version      VARCHAR,
            episode_type       VARCHAR NOT NULL,
            stage              INTEGER NOT NULL,
            scalar             DOUBLE NOT NULL,
            vector             JSON NOT NULL,
            components_present VARCHAR[] NOT NULL,
            produced_at        TIMESTAMPTZ NOT NULL,
            source             VARCHAR NOT NULL
        );
        CREATE TABLE verdicts (
            event_id      UUID PRIMARY KEY,
            decision_id   VARCHAR NOT NULL,
            episode_id    VARCHAR NOT NULL,
            status        VARCHAR NOT NULL,  -- 'ok' or 'failed'
            judge_version VARCHAR NOT NULL,
            judge_model   VARCHAR NOT NULL,
            rubric_version VARCHAR,
            content_hash  VARCHAR NOT NULL,
            scores        JSON,              -- NULL when failed: never a made-up score
            rationale     VARCHAR,
            swapped       BOOLEAN,
            cached        BOOLEAN,
            reason        VARCHAR,
            error_type    VARCHAR,
            attempts      INTEGER,
            produced_at   TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE trajectories (
            event_id       UUID PRIMARY KEY,
            episode_id     VARCHAR NOT NULL,
            policy_version VARCHAR NOT NULL,
            reward_version VARCHAR NOT NULL,
            judge_version  VARCHAR,
            episode_reward DOUBLE NOT NULL,
            decisions      INTEGER NOT NULL,
            produced_at    TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE drift_windows (
            event_id       UUID PRIMARY KEY,
            behaviour      VARCHAR NOT NULL,
            episode_type   VARCHAR NOT NULL,
            window_kind    VARCHAR NOT NULL,
            window_start   TIMESTAMPTZ NOT NULL,
            window_end     TIMESTAMPTZ NOT NULL,
            reward_version VARCHAR NOT NULL,
            judge_version  VARCHAR NOT NULL,
            n              INTEGER NOT NULL,
            agreement      DOUBLE,
            mean_residual  DOUBLE,
            psi            DOUBLE,
            ks             DOUBLE,
            page_hinkley   DOUBLE,
            produced_at    TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE drift_alerts (
            event_id       UUID PRIMARY KEY,
            behaviour      VARCHAR NOT NULL,
            episode_type   VARCHAR NOT NULL,
            window_kind    VARCHAR NOT NULL,
            window_start   TIMESTAMPTZ NOT NULL,
            window_end     TIMESTAMPTZ NOT NULL,
            reward_version VARCHAR NOT NULL,
            judge_version  VARCHAR NOT NULL,
            metric         VARCHAR NOT NULL,
            value          DOUBLE NOT NULL,
            threshold      DOUBLE NOT NULL,
            message        VARCHAR NOT NULL,
            produced_at    TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE policy_versions (
            event_id       UUID PRIMARY KEY,
            policy_version VARCHAR NOT NULL,
            parent_version VARCHAR,
            base_model     VARCHAR NOT NULL,
            adapter_path   VARCHAR NOT NULL,
            updates        INTEGER NOT NULL,
            trajectories   INTEGER NOT NULL,
            metrics        JSON NOT NULL,
            produced_at    TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE eval_reports (
            event_id       UUID PRIMARY KEY,
            report_id      VARCHAR NOT NULL,
            cadence        VARCHAR NOT NULL,
            policy_version VARCHAR NOT NULL,
            stage          INTEGER NOT NULL,
            tasks          INTEGER NOT NULL,
            metrics        JSON NOT NULL,
            baselines      JSON NOT NULL,
            transfer       JSON NOT NULL,
            produced_at    TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE dead_letters (
            event_id          UUID PRIMARY KEY,
            topic             VARCHAR NOT NULL,
            "partition"       INTEGER NOT NULL,
            "offset"          BIGINT NOT NULL,
            consumer          VARCHAR NOT NULL,
            reason            VARCHAR NOT NULL,
            error_type        VARCHAR NOT NULL,
            payload           VARCHAR NOT NULL,
            payload_sha256    VARCHAR NOT NULL,
            payload_truncated BOOLEAN NOT NULL,
            produced_at       TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        2,
        "curriculum stage changes",
        """
        CREATE TABLE stage_changes (
            event_id    UUID PRIMARY KEY,
            from_stage  INTEGER NOT NULL,
            to_stage    INTEGER NOT NULL,
            episodes    BIGINT NOT NULL,
            criteria    JSON NOT NULL,
            "window"    INTEGER NOT NULL,
            reason      VARCHAR NOT NULL,
            produced_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        3,
        "learner updates",
        """
        CREATE TABLE learner_updates (
            event_id          UUID PRIMARY KEY,
            lineage           VARCHAR NOT NULL,
            "update"          INTEGER NOT NULL,
            base_model        VARCHAR NOT NULL,
            policy_version    VARCHAR NOT NULL,
            trajectory_ids    JSON NOT NULL,
            dropped_ids       JSON NOT NULL,
            skipped_ids       JSON NOT NULL,
            decisions         INTEGER NOT NULL,
            metrics           JSON NOT NULL,
            produced_at       TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    (
        4,
        "chat models' conversations: a decision's place in its episode's conversation",
        """
        ALTER TABLE decisions ADD COLUMN context_offset INTEGER DEFAULT 0;
        ALTER TABLE decisions ADD COLUMN context_restarted BOOLEAN DEFAULT false;
        ALTER TABLE decisions ADD COLUMN finish_reason VARCHAR;
        """,
    ),
]

LATEST = MIGRATIONS[-1][0]


def applied_version(conn: duckdb.DuckDBPyConnection) -> int:
    # fetchall, not fetchone: DuckDB keeps a result "unfinished" until a fetch comes
    # back empty, and an unfinished result blocks register() on this connection
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchall()
    if not exists or not exists[0][0]:
        return 0
    rows = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()
    return int(rows[0][0]) if rows else 0


def migrate(conn: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the migrations not yet applied, each in its own transaction."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, description VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    current = applied_version(conn)
    if current > LATEST:
        raise RuntimeError(
            f"the store is at schema version {current}, newer than this Dojo knows ({LATEST}); "
            "upgrade Dojo"
        )
    done = []
    for version, description, sql in MIGRATIONS:
        if version <= current:
            continue
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (?, ?)",
                [version, description],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        done.append(version)
    return done
