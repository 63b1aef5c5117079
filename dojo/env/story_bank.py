"""The words the scenario generator builds stories, codebases and incidents from.

Plain data, no logic. Every string is ASCII so observations fit the gymnasium
``Text`` space. Two tables are read by the scripted reference policies too
(:data:`CONSTRAINT_CUES`, :data:`VAGUE_PHRASES`): they are the *visible* wording a
careful reader picks up on, the way an engineer reads "personal details" and
thinks "security" — never the hidden truth itself.
"""

from __future__ import annotations

# --- domains -------------------------------------------------------------------------
# domain -> (entity, existing system, customers)
DOMAINS: dict[str, tuple[str, str, str]] = {
    "payments": ("invoices", "billing service", "merchants"),
    "healthcare": ("patient referrals", "records system", "clinics"),
    "logistics": ("shipments", "carrier gateway", "warehouses"),
    "retail": ("orders", "order service", "store managers"),
    "education": ("course enrollments", "student portal", "teachers"),
    "media": ("subscriptions", "entitlement service", "subscribers"),
}
LANGUAGES: tuple[str, ...] = ("python", "typescript", "go", "java", "kotlin")

# --- features: title, one-line need, core criterion, the components a plan needs ----
FEATURES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "export": (
        "Export {entity} as a report",
        "{customers} want to download their {entity} as a spreadsheet.",
        "{customers} can download their {entity} as a spreadsheet",
        ("query_layer", "service_logic", "file_export", "api_endpoint", "ui_screen"),
    ),
    "search": (
        "Search {entity}",
        "{customers} want to find {entity} by name and date.",
        "{customers} can find {entity} by name and date",
        ("data_model", "query_layer", "service_logic", "api_endpoint", "ui_screen"),
    ),
    "notify": (
        "Notify on {entity} status changes",
        "{customers} want a message when their {entity} change status.",
        "{customers} get a message when their {entity} change status",
        ("data_model", "service_logic", "notification", "background_job", "api_endpoint"),
    ),
    "bulk_edit": (
        "Bulk-update {entity} from an upload",
        "{customers} want to correct many {entity} at once from a spreadsheet.",
        "{customers} can correct many {entity} from one upload",
        ("file_import", "data_model", "service_logic", "api_endpoint", "ui_screen"),
    ),
    "dashboard": (
        "Summary dashboard of {entity}",
        "{customers} want one screen that summarises their {entity}.",
        "{customers} see totals of their {entity} on one screen",
        ("query_layer", "service_logic", "api_endpoint", "ui_screen", "caching"),
    ),
    "archive": (
        "Archive old {entity}",
        "{customers} want old {entity} moved out of the way but still findable.",
        "{entity} older than a year move to the archive and stay findable",
        ("data_model", "migration", "background_job", "query_layer", "service_logic"),
    ),
}

# component -> (story points, base risk, visible note, risky note)
COMPONENTS: dict[str, tuple[int, float, str, str]] = {
    "data_model": (2, 0.15, "new fields on the main table", "reshapes a table every service reads"),
    "migration": (
        3,
        0.35,
        "backfills existing rows",
        "backfill over years of rows, no dry run yet",
    ),
    "query_layer": (
        2,
        0.15,
        "reads through the repository",
        "query planner has surprised us before",
    ),
    "service_logic": (3, 0.2, "the business rules", "rules nobody has written down"),
    "api_endpoint": (2, 0.1, "one new route", "one new route"),
    "ui_screen": (3, 0.15, "one new screen", "first screen in the new design system"),
    "background_job": (3, 0.3, "runs on the job queue", "the job queue drops work under load"),
    "external_client": (5, 0.45, "calls the partner API", "partner API v3 has no sandbox yet"),
    "access_control": (2, 0.2, "role checks", "role model is being rewritten"),
    "audit_trail": (2, 0.15, "who changed what", "audit store is append-only and slow"),
    "notification": (2, 0.2, "sends messages", "message provider throttles bursts"),
    "caching": (3, 0.3, "cache of the hot query", "cache invalidation across nodes"),
    "file_export": (2, 0.2, "writes the file", "files of unknown size in memory"),
    "file_import": (3, 0.35, "parses the upload", "uploads in any encoding users have"),
    "feature_flag": (1, 0.05, "guards the rollout", "guards the rollout"),
}
# components a plan may include that this story does not need (gold plating)
EXTRA_COMPONENTS: tuple[str, ...] = (
    "admin_console",
    "pdf_export",
    "scheduling",
    "theming",
    "analytics",
)

# (before, after, kind): `after` cannot be finished before `before`
DEPENDENCY_RULES: tuple[tuple[str, str, str], ...] = (
    ("data_model", "migration", "build"),
    ("data_model", "query_layer", "data"),
    ("migration", "background_job", "data"),
    ("query_layer", "service_logic", "interface"),
    ("external_client", "service_logic", "interface"),
    ("file_import", "service_logic", "data"),
    ("service_logic", "api_endpoint", "interface"),
    ("service_logic", "background_job", "interface"),
    ("service_logic", "notification", "interface"),
    ("service_logic", "file_export", "interface"),
    ("api_endpoint", "ui_screen", "interface"),
    ("access_control", "api_endpoint", "build"),
    ("data_model", "audit_trail", "data"),
    ("query_layer", "caching", "data"),
)
DEPENDENCY_KINDS: tuple[str, ...] = ("build", "data", "interface")

# --- elicitation ---------------------------------------------------------------------
QUESTION_DIMENSIONS: tuple[str, ...] = (
    "scope",
    "users",
    "acceptance",
    "data",
    "performance",
    "security",
    "compliance",
    "integration",
    "operations",
    "ux",
    "other",
)
AMBIGUITY_DIMENSIONS: tuple[str, ...] = ("scope", "users", "acceptance")
CONSTRAINT_CATEGORIES: tuple[str, ...] = (
    "data",
    "performance",
    "security",
    "compliance",
    "integration",
    "operations",
    "ux",
)
# category -> sentence that hints at it in the story (visible), keyword a reader keys on
CONSTRAINT_CUES: dict[str, tuple[str, str]] = {
    "data": ("The {entity} come from several time zones.", "time zones"),
    "performance": ("Some accounts have tens of thousands of {entity}.", "tens of thousands"),
    "security": ("The {entity} include personal details.", "personal details"),
    "compliance": ("Auditors review this area every quarter.", "auditors"),
    "integration": ("It has to fit with the existing {system}.", "existing"),
    "operations": ("It ships during the peak season.", "peak season"),
    "ux": ("Most {customers} work from their phones.", "phones"),
}
# category -> the hidden constraint the product owner states when asked
CONSTRAINT_STATEMENTS: dict[str, tuple[str, ...]] = {
    "data": (
        "dates are stored in UTC and must be shown in the customer's local time",
        "amounts keep four decimal places end to end",
    ),
    "performance": (
        "it must answer within two seconds for 50,000 {entity}",
        "it must not slow down the nightly batch",
    ),
    "security": (
        "only account owners may see the {entity}; support staff see masked copies",
        "personal fields must be encrypted at rest",
    ),
    "compliance": (
        "every change must be kept in an audit log for seven years",
        "deleted {entity} must stay recoverable for 90 days",
    ),
    "integration": (
        "it must go through the existing {system}, not around it",
        "the partner only accepts their v3 API",
    ),
    "operations": (
        "it must ship behind a feature flag with a kill switch",
        "no downtime is allowed during the rollout",
    ),
    "ux": (
        "it must work on a phone screen",
        "it must meet the accessibility checklist",
    ),
}
# category -> component a plan needs when this constraint holds
CONSTRAINT_COMPONENTS: dict[str, str] = {
    "data": "migration",
    "performance": "caching",
    "security": "access_control",
    "compliance": "audit_trail",
    "integration": "external_client",
    "operations": "feature_flag",
    "ux": "ui_screen",
}
# ambiguity dimension -> vague phrase in the story (visible), keyword
VAGUE_PHRASES: dict[str, tuple[str, str]] = {
    "scope": ("It should cover the usual cases.", "usual cases"),
    "users": ("Some users need this soon.", "some users"),
    "acceptance": ("It needs to work well.", "work well"),
}
CLARIFICATIONS: dict[str, str] = {
    "scope": "v1 covers {entity} from the last 12 months only",
    "users": "it is for {customers} with an admin role, not their staff",
    "acceptance": "done means the three checks in the ticket pass on staging",
}
# things the product owner does NOT want in v1 (scope boundary)
OUT_OF_SCOPE: tuple[str, ...] = (
    "PDF output",
    "scheduled delivery",
    "an admin console",
    "multi-language text",
    "custom themes",
    "usage analytics",
)

# --- approaches (trade-offs) ---------------------------------------------------------
APPROACHES: tuple[str, ...] = ("extend_module", "new_service", "vendor_library")
APPROACH_FLAWS: dict[str, str] = {
    "extend_module": "the module is already the slowest part of the build and has no tests",
    "new_service": "a new service needs ops sign-off that takes three sprints",
    "vendor_library": "the library's licence is not approved for commercial use",
}

# --- codebases and conventions -------------------------------------------------------
CODEBASE_KINDS: tuple[str, ...] = ("greenfield", "small", "legacy")
CONVENTIONS: dict[str, tuple[str, ...]] = {
    "naming": ("snake_case", "camel_case"),
    "errors": ("exceptions", "result_values"),
    "tests": ("table_driven", "fixture_based"),
    "layout": ("by_feature", "by_layer"),
}

# --- teams ---------------------------------------------------------------------------
TEAM_NAMES: tuple[str, ...] = ("atlas", "borealis", "cobalt", "delta", "ember", "fjord")
PEOPLE: tuple[str, ...] = (
    "ana",
    "ben",
    "chen",
    "dara",
    "eli",
    "femi",
    "gus",
    "hana",
    "ivo",
    "jun",
    "kim",
    "lea",
    "max",
    "nia",
    "omar",
    "pia",
)
ROLES: tuple[str, ...] = ("product_owner", "tech_lead", "developer", "tester", "devops")
SENIORITIES: tuple[str, ...] = ("junior", "mid", "senior")
KNOWLEDGE_TOPICS: tuple[str, ...] = (
    "build",
    "deploy",
    "domain",
    "conventions",
    "architecture",
    "testing",
)

# --- disturbances --------------------------------------------------------------------
DISTURBANCE_TYPES: tuple[str, ...] = (
    "flaky_test",
    "production_incident",
    "scope_creep",
    "merge_conflict",
    "test_failures",
    "technical_debt",
    "dependency_break",
)
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
BLAST_RADII: tuple[str, ...] = ("local", "team", "cross_team", "customer")
RESPONSES: tuple[str, ...] = ("fix_now", "defer", "escalate")
# disturbance -> (headline, candidate root causes; the first ones are symptoms-level fixes)
DISTURBANCE_TEXT: dict[str, tuple[str, tuple[str, ...]]] = {
    "flaky_test": (
        "a test fails on some CI runs and passes on others",
        ("shared_state", "clock_dependency", "network_call", "test_order"),
    ),
    "production_incident": (
        "alerts fired on production for the {system}",
        ("bad_deploy", "config_change", "capacity", "expired_certificate"),
    ),
    "scope_creep": (
        "the product owner asks to add a feature mid-sprint",
        ("unclear_goal", "stakeholder_pressure", "missed_requirement", "competitor_move"),
    ),
    "merge_conflict": (
        "two branches changed the same module and the merge fails",
        ("parallel_refactor", "long_lived_branch", "generated_code", "formatting_change"),
    ),
    "test_failures": (
        "a batch of tests started failing after the last merge",
        ("contract_change", "fixture_drift", "timezone_bug", "null_handling"),
    ),
    "technical_debt": (
        "a change that should take an hour keeps breaking other code",
        ("hidden_coupling", "copy_paste_logic", "missing_tests", "outdated_library"),
    ),
    "dependency_break": (
        "an upstream library release broke the build",
        ("breaking_api_change", "transitive_pin", "removed_feature", "license_change"),
    ),
}
# severity -> wording of the evidence a look at it shows
SEVERITY_EVIDENCE: dict[str, str] = {
    "low": "a handful of internal runs are affected; no customer noticed",
    "medium": "one team's work is slowed; a workaround exists",
    "high": "a core flow is degraded; support tickets are coming in",
    "critical": "customers cannot complete a core flow; revenue is at stake",
}
RADIUS_EVIDENCE: dict[str, str] = {
    "local": "only this module and its own tests",
    "team": "everything this team ships this sprint",
    "cross_team": "another team's service that consumes ours",
    "customer": "customer-facing pages and the public API",
}
INVESTIGATE_ASPECTS: tuple[str, ...] = ("logs", "metrics", "users", "recent_changes", "tests")

# --- implementation: failures with a root cause and tempting symptom fixes -----------
FAILURES: dict[str, tuple[str, str]] = {
    "timezone_conversion": (
        "expected 2024-03-01 but got 2024-02-29 for a customer in UTC+1",
        "dates are converted before the timezone is applied",
    ),
    "null_handling": (
        "TypeError on rows where the optional field is empty",
        "optional fields are read as if always present",
    ),
    "off_by_one": (
        "the last page of results is always missing one row",
        "the page boundary uses < where it needs <=",
    ),
    "stale_cache": (
        "updated values show up only after a restart",
        "the cache is never invalidated on write",
    ),
    "encoding": (
        "names with accents come out as question marks",
        "the file is written without an explicit encoding",
    ),
}
SYMPTOM_FIXES: tuple[str, ...] = ("retry_on_failure", "skip_the_test", "widen_tolerance")

# --- self-monitoring: the planted issue half-way through a task ---------------------
# issue -> (right checkpoint call, what the progress numbers say, the evidence once found)
ISSUES: dict[str, tuple[str, str, str]] = {
    "none": (
        "continue",
        "3 of 6 tasks done in 2 of 4 days",
        "tests for the done parts pass and the remaining work matches the estimate",
    ),
    "approach_dead_end": (
        "pivot",
        "the last 3 attempts did not move the benchmark",
        "the benchmark shows 14 s for 10,000 rows where the limit is 2 s; the approach cannot get there",
    ),
    "requirement_mismatch": (
        "pivot",
        "4 of 6 tasks done in 2 of 4 days",
        "the ticket asks for per-account totals; the code computes per-user totals",
    ),
    "missing_knowledge": (
        "escalate",
        "the remaining tasks have no estimate anyone trusts",
        "the rest needs the partner's request-signing scheme; nobody on the team has used it",
    ),
    "blocked_externally": (
        "escalate",
        "one task has waited a day for access",
        "the partner API answers 403 for our service account; only their team can grant access",
    ),
}
PROGRESS_ESTIMATES: tuple[str, ...] = ("on_track", "behind", "blocked")
CONFIDENCE: dict[str, float] = {"low": 0.2, "medium": 0.5, "high": 0.9}

# --- research ------------------------------------------------------------------------
RESEARCH_TOPICS: tuple[str, ...] = (
    "pagination",
    "authentication",
    "rate_limits",
    "webhooks",
    "error_codes",
    "versioning",
)
SOURCE_KINDS: dict[str, tuple[str, float]] = {
    # kind -> (label, authority)
    "official_docs": ("the provider's official reference", 0.95),
    "changelog": ("the provider's changelog", 0.9),
    "internal_code": ("our own code that already does this", 0.8),
    "blog_post": ("a popular blog post", 0.5),
    "forum_answer": ("an accepted forum answer", 0.45),
    "video": ("a conference talk", 0.35),
}
