"""The seeded scenario generator: a story, its codebase, its team and what will go wrong.

Everything an episode needs to know that the candidate does *not* — the hidden
truth — is generated here, from one ``random.Random`` per part so that the same
seed always yields the same scenario and adding a part never shifts another.

Hidden truth, and what uncovers it:

* **Story** — a vague summary over precise intent. Ambiguous dimensions (scope,
  users, acceptance) carry a vague phrase in the summary; hidden constraints
  (by category) carry a cue sentence only sometimes (less often as ambiguity
  rises), and red-herring cues point at categories with no constraint. The
  product owner states a constraint only when asked about its category (or asked
  "anything else?"). ``optimal_questions`` = the ambiguous dimensions and the
  scope boundary + one per constraint + one closing completeness check.
* **Plan** — the components a correct plan contains, their real dependencies
  (typed build / data / interface), the riskiest one (its visible note is
  sometimes bland, a decoy note sometimes alarming), and the one approach of
  three that survives contact with this codebase.
* **Codebase** — greenfield / small / legacy, with conventions (naming, errors,
  tests, layout) that only reading the code or asking reveals.
* **Team** — roles and seniority; a foreign team with its own codebase and
  conventions for borrowing; a departure (what only they knew) and a new hire
  (their real gaps).
* **Disturbance** — one of seven types with a true severity, blast radius, root
  cause and right response (fix now / defer / escalate).
* **Research gap**, **planted failure**, **checkpoint truth** — for the research,
  implementation and self-monitoring episodes.

:func:`generate_story` takes its knobs (ambiguity, complexity, risk, domain,
codebase) explicitly, so the solo evaluation harness can build a task bank over
chosen levels; :func:`generate_scenario` draws them from one difficulty.
"""

from __future__ import annotations

import random
from typing import Literal

from pydantic import BaseModel, ConfigDict

from dojo.env import story_bank as bank

DifficultyLevel = Literal["easy", "medium", "hard"]
LEVELS: dict[str, float] = {"easy": 0.2, "medium": 0.5, "hard": 0.85}

Verdict = Literal["continue", "pivot", "escalate"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class HiddenConstraint(_Frozen):
    category: str
    statement: str
    cued: bool
    """Whether the summary carries a sentence hinting at this category."""
    severity: int
    """1–3: hours of rework per severity point (x4) when found only after execution."""


class PlanTask(_Frozen):
    component: str
    points: int
    risk: float
    note: str
    """What the candidate sees next to the component; may understate or overstate risk."""


class Dependency(_Frozen):
    before: str
    after: str
    kind: str


class Story(_Frozen):
    """A user story and its hidden intent."""

    feature: str
    domain: str
    entity: str
    system: str
    customers: str
    title: str
    summary: str
    ambiguity: float
    ambiguous: tuple[str, ...]
    constraints: tuple[HiddenConstraint, ...]
    red_herrings: tuple[str, ...]
    out_of_scope: tuple[str, ...]
    acceptance: tuple[str, ...]
    core_criteria: int
    tasks: tuple[PlanTask, ...]
    extras: tuple[str, ...]
    dependencies: tuple[Dependency, ...]
    risky: str
    approaches: tuple[str, ...]
    best_approach: str
    optimal_questions: int

    @property
    def points(self) -> int:
        """The story's estimate: the Fibonacci number nearest its components' effort / 2.5."""
        effort = sum(t.points for t in self.tasks) / 2.5
        return min((3, 5, 8, 13), key=lambda f: abs(f - effort))

    def constraint(self, category: str) -> HiddenConstraint | None:
        return next((c for c in self.constraints if c.category == category), None)


class Codebase(_Frozen):
    kind: str
    language: str
    conventions: dict[str, str]
    modules: tuple[str, ...]
    relevant_module: str
    test_coverage: float


class Member(_Frozen):
    name: str
    role: str
    seniority: str
    knows: tuple[str, ...]


class Team(_Frozen):
    name: str
    members: tuple[Member, ...]
    codebase: Codebase

    def by_role(self, role: str) -> Member:
        return next((m for m in self.members if m.role == role), self.members[0])


class Disturbance(_Frozen):
    kind: str
    headline: str
    severity: str
    blast_radius: str
    response: str
    root_cause: str
    causes: tuple[str, ...]
    owned_elsewhere: bool
    """The root cause lives in another team's code: escalating is the right response."""
    recurrence: float
    size: str
    """For scope creep: how big the added work really is (small / medium / large)."""


class KnowledgeItem(_Frozen):
    topic: str
    importance: str
    documented: bool
    detail: str


class Departure(_Frozen):
    member: Member
    knowledge: tuple[KnowledgeItem, ...]
    open_work: tuple[str, ...]
    critical_work: str


class NewHire(_Frozen):
    member: Member
    gaps: tuple[str, ...]


class Source(_Frozen):
    id: str
    kind: str
    year: int
    authority: float
    topic: str
    outdated: bool
    answers: bool
    """It holds the fact the gap needs (and, if not outdated, states it correctly)."""


class ResearchGap(_Frozen):
    topic: str
    question: str
    sources: tuple[Source, ...]


class ExternalDependency(_Frozen):
    team: str
    kind: str
    real: bool
    late: bool


class CheckpointTruth(_Frozen):
    verdict: Verdict
    issue: str
    evidence: str


class Scenario(_Frozen):
    seed: int
    difficulty: float
    story: Story
    team: Team
    foreign_team: Team
    disturbance: Disturbance
    departure: Departure
    new_hire: NewHire
    research: ResearchGap
    failure: str
    checkpoint: CheckpointTruth
    cross_team: tuple[ExternalDependency, ...]
    sprint_day: int
    sprint_days: int

    def summary(self) -> str:
        s = self.story
        return f"{s.title} ({s.domain}); {self.team.codebase.kind} {self.team.codebase.language} codebase"


# --- parts ----------------------------------------------------------------------------


def _part_rng(seed: int, part: str) -> random.Random:
    # str seeds hash with sha512 (stable across processes), unlike hash(tuple)
    return random.Random(f"{seed}:{part}")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _jitter(rng: random.Random, value: float, spread: float = 0.1) -> float:
    return min(1.0, max(0.0, value + rng.uniform(-spread, spread)))


def generate_codebase(rng: random.Random, kind: str, domain: str) -> Codebase:
    conventions = {aspect: rng.choice(options) for aspect, options in bank.CONVENTIONS.items()}
    entity = bank.DOMAINS[domain][0].split()[-1]
    modules = tuple(
        f"{entity}_{part}" for part in ("core", "api", "jobs", "legacy_utils", "reports")
    )
    coverage = {"greenfield": 0.9, "small": 0.7, "legacy": 0.35}[kind]
    return Codebase(
        kind=kind,
        language=rng.choice(bank.LANGUAGES),
        conventions=conventions,
        modules=modules,
        relevant_module=rng.choice(modules[:3]),
        test_coverage=_jitter(rng, coverage),
    )


def generate_story(
    rng: random.Random,
    *,
    ambiguity: float,
    complexity: float,
    risk: float,
    domain: str | None = None,
    codebase_kind: str = "small",
) -> Story:
    """One story with hidden intent, its knobs explicit (each in [0, 1])."""
    domain = domain or rng.choice(tuple(bank.DOMAINS))
    entity, system, customers = bank.DOMAINS[domain]
    feature = rng.choice(tuple(bank.FEATURES))
    title_t, need_t, criterion_t, feature_components = bank.FEATURES[feature]
    fmt = {"entity": entity, "system": system, "customers": customers}

    ambiguous = tuple(rng.sample(bank.AMBIGUITY_DIMENSIONS, round(ambiguity * 3)))
    n_constraints = 1 + round(complexity * 2) + (1 if ambiguity > 0.6 else 0)
    categories = rng.sample(bank.CONSTRAINT_CATEGORIES, n_constraints)
    cue_p = 1.0 - 0.75 * ambiguity
    constraints = tuple(
        HiddenConstraint(
            category=c,
            statement=rng.choice(bank.CONSTRAINT_STATEMENTS[c]).format(**fmt),
            cued=rng.random() < cue_p,
            severity=rng.randint(1, 3),
        )
        for c in categories
    )
    free = [c for c in bank.CONSTRAINT_CATEGORIES if c not in categories]
    red_herrings = tuple(rng.sample(free, min(len(free), round(ambiguity * 2))))

    sentences = [bank.CONSTRAINT_CUES[c.category][0] for c in constraints if c.cued]
    sentences += [bank.CONSTRAINT_CUES[c][0] for c in red_herrings]
    sentences += [bank.VAGUE_PHRASES[d][0] for d in ambiguous]
    rng.shuffle(sentences)
    summary = " ".join(_sentence(s.format(**fmt)) for s in [need_t, *sentences])

    core = (
        criterion_t.format(**fmt),
        f"the result is correct for {entity} with missing optional fields",
    )
    acceptance = core + tuple(c.statement for c in constraints)

    components = list(dict.fromkeys(feature_components))
    for c in constraints:
        comp = bank.CONSTRAINT_COMPONENTS[c.category]
        if comp not in components:
            components.append(comp)
    components = components[: 4 + round(complexity * 4)]
    tasks = _plan_tasks(rng, components, risk, codebase_kind)
    risky = max(tasks, key=lambda t: t.risk).component
    names = {t.component for t in tasks}
    dependencies = tuple(
        Dependency(before=b, after=a, kind=k)
        for b, a, k in bank.DEPENDENCY_RULES
        if b in names and a in names
    )
    return Story(
        feature=feature,
        domain=domain,
        entity=entity,
        system=system,
        customers=customers,
        title=title_t.format(**fmt),
        summary=summary,
        ambiguity=ambiguity,
        ambiguous=ambiguous,
        constraints=constraints,
        red_herrings=red_herrings,
        out_of_scope=tuple(rng.sample(bank.OUT_OF_SCOPE, 2)),
        acceptance=acceptance,
        core_criteria=len(core),
        tasks=tasks,
        extras=tuple(rng.sample(bank.EXTRA_COMPONENTS, 2)),
        dependencies=dependencies,
        risky=risky,
        approaches=bank.APPROACHES,
        best_approach=rng.choice(bank.APPROACHES),
        # the scope boundary is always worth one question; one closing "anything else?"
        optimal_questions=len({*ambiguous, "scope"}) + len(constraints) + 1,
    )


def _plan_tasks(
    rng: random.Random, components: list[str], risk: float, codebase_kind: str
) -> tuple[PlanTask, ...]:
    legacy_bonus = {"greenfield": 0.0, "small": 0.05, "legacy": 0.25}[codebase_kind]
    risks = {}
    for comp in components:
        base = bank.COMPONENTS[comp][1]
        bonus = legacy_bonus if comp in ("migration", "data_model", "service_logic") else 0.0
        risks[comp] = min(1.0, base + bonus + rng.uniform(0.0, 0.3) * (0.5 + risk))
    risky = max(risks, key=lambda c: risks[c])
    # the riskiest component's note understates it more often as risk rises, and a
    # decoy component may look alarming: a spike is what settles it
    hide_risk = rng.random() < 0.6 * risk
    decoy = rng.choice([c for c in components if c != risky]) if rng.random() < risk else None
    tasks = []
    for comp in components:
        points, _, plain, alarming = bank.COMPONENTS[comp]
        loud = (comp == risky and not hide_risk) or comp == decoy
        tasks.append(
            PlanTask(
                component=comp, points=points, risk=risks[comp], note=alarming if loud else plain
            )
        )
    return tuple(tasks)


def generate_team(rng: random.Random, name: str, codebase: Codebase, size: int) -> Team:
    people = rng.sample(bank.PEOPLE, size)
    roles = ["product_owner", "tech_lead", "tester"] + ["developer"] * (size - 3)
    members = tuple(
        Member(
            name=person,
            role=role,
            seniority="senior" if role == "tech_lead" else rng.choice(bank.SENIORITIES),
            knows=tuple(rng.sample(bank.KNOWLEDGE_TOPICS, 3)),
        )
        for person, role in zip(people, roles, strict=True)
    )
    return Team(name=name, members=members, codebase=codebase)


def generate_disturbance(
    rng: random.Random, kind: str, difficulty: float, system: str
) -> Disturbance:
    """A disturbance of one of the seven types; the right response follows from the truth."""
    headline, causes = bank.DISTURBANCE_TEXT[kind]
    weights = [1.0 - difficulty * 0.5, 1.0, 0.6 + difficulty, 0.2 + difficulty]
    severity = rng.choices(bank.SEVERITIES, weights=weights)[0]
    radius = rng.choice(bank.BLAST_RADII)
    owned_elsewhere = kind in ("dependency_break", "production_incident") and rng.random() < 0.4
    if owned_elsewhere:
        response = "escalate"
    elif severity in ("high", "critical"):
        response = "fix_now"
    else:
        response = "defer"
    return Disturbance(
        kind=kind,
        headline=headline.format(system=system),
        severity=severity,
        blast_radius=radius,
        response=response,
        root_cause=rng.choice(causes),
        causes=causes,
        owned_elsewhere=owned_elsewhere,
        recurrence=_jitter(rng, 0.3 + 0.4 * difficulty),
        size=rng.choice(("small", "medium", "large")),
    )


def _departure(rng: random.Random, team: Team) -> Departure:
    leaver = next(m for m in team.members if m.role == "developer")
    topics = rng.sample(bank.KNOWLEDGE_TOPICS, 5)
    importances = ["critical", "critical", "useful", "useful", "trivia"]
    knowledge = tuple(
        KnowledgeItem(
            topic=t,
            importance=imp,
            documented=rng.random() < 0.3,
            detail=f"how {leaver.name} handles {t} for the {team.codebase.relevant_module} module",
        )
        for t, imp in zip(topics, importances, strict=True)
    )
    work = tuple(rng.sample(tuple(bank.COMPONENTS), 3))
    return Departure(member=leaver, knowledge=knowledge, open_work=work, critical_work=work[0])


def _new_hire(rng: random.Random) -> NewHire:
    member = Member(
        name=rng.choice(bank.PEOPLE),
        role="developer",
        seniority=rng.choice(("junior", "mid")),
        knows=(),
    )
    return NewHire(member=member, gaps=tuple(rng.sample(bank.KNOWLEDGE_TOPICS, 3)))


def _research(rng: random.Random, difficulty: float) -> ResearchGap:
    topic = rng.choice(bank.RESEARCH_TOPICS)
    others = [t for t in bank.RESEARCH_TOPICS if t != topic]
    kinds = list(bank.SOURCE_KINDS)
    rng.shuffle(kinds)
    sources = []
    for i, kind in enumerate(kinds[:5]):
        authority = bank.SOURCE_KINDS[kind][1]
        on_topic = i < 3 or rng.random() < 0.3
        outdated = (
            kind in ("blog_post", "forum_answer", "video") and rng.random() < 0.5 + difficulty / 2
        )
        sources.append(
            Source(
                id=f"s{i + 1}",
                kind=kind,
                year=rng.randint(2016, 2020) if outdated else rng.randint(2023, 2026),
                authority=authority,
                topic=topic if on_topic else rng.choice(others),
                outdated=outdated,
                answers=on_topic and authority >= 0.45,
            )
        )
    if not any(s.answers and not s.outdated for s in sources):
        sources[0] = sources[0].model_copy(
            update={
                "kind": "official_docs",
                "authority": 0.95,
                "topic": topic,
                "outdated": False,
                "answers": True,
                "year": 2025,
            }
        )
    question = f"how the partner API handles {topic.replace('_', ' ')} since its v3 release"
    return ResearchGap(topic=topic, question=question, sources=tuple(sources))


def _checkpoint(rng: random.Random) -> CheckpointTruth:
    issue = rng.choices(tuple(bank.ISSUES), weights=(0.3, 0.2, 0.15, 0.15, 0.2))[0]
    verdict, _, evidence = bank.ISSUES[issue]
    return CheckpointTruth(verdict=verdict, issue=issue, evidence=evidence)


def _cross_team(rng: random.Random, team: str) -> tuple[ExternalDependency, ...]:
    others = [t for t in bank.TEAM_NAMES if t != team]
    picked = rng.sample(others, 4)
    n_real = rng.randint(1, 2)
    return tuple(
        ExternalDependency(
            team=t,
            kind=rng.choice(("api", "data", "release")),
            real=i < n_real,
            late=i < n_real and rng.random() < 0.6,
        )
        for i, t in enumerate(picked)
    )


def generate_scenario(seed: int, difficulty: float, *, disturbance: str | None = None) -> Scenario:
    """The whole hidden world for one seed; ``disturbance`` forces its type (else seeded)."""
    rng = _part_rng(seed, "knobs")
    codebase_kind = rng.choices(
        bank.CODEBASE_KINDS, weights=(1.0 - difficulty, 1.0, 0.3 + difficulty)
    )[0]
    domain = rng.choice(tuple(bank.DOMAINS))
    story = generate_story(
        _part_rng(seed, "story"),
        ambiguity=_jitter(rng, 0.1 + 0.8 * difficulty),
        complexity=_jitter(rng, difficulty, 0.2),
        risk=_jitter(rng, difficulty, 0.2),
        domain=domain,
        codebase_kind=codebase_kind,
    )
    team_rng = _part_rng(seed, "team")
    names = team_rng.sample(bank.TEAM_NAMES, 2)
    codebase = generate_codebase(team_rng, codebase_kind, domain)
    team = generate_team(team_rng, names[0], codebase, team_rng.randint(5, 7))
    foreign_cb = generate_codebase(team_rng, team_rng.choice(("small", "legacy")), domain)
    foreign = generate_team(team_rng, names[1], foreign_cb, team_rng.randint(4, 6))
    drng = _part_rng(seed, "disturbance")
    kind = disturbance or drng.choice(bank.DISTURBANCE_TYPES)
    crng = _part_rng(seed, "changes")
    failure = crng.choice(tuple(bank.FAILURES))
    return Scenario(
        seed=seed,
        difficulty=difficulty,
        story=story,
        team=team,
        foreign_team=foreign,
        disturbance=generate_disturbance(drng, kind, difficulty, story.system),
        departure=_departure(crng, team),
        new_hire=_new_hire(crng),
        research=_research(_part_rng(seed, "research"), difficulty),
        failure=failure,
        checkpoint=_checkpoint(crng),
        cross_team=_cross_team(crng, team.name),
        sprint_day=rng.randint(1, 10),
        sprint_days=10,
    )
