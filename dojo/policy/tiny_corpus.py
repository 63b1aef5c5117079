"""The deterministic text the tiny preset's tokenizer is trained on.

It only shapes which strings get short token sequences: the tokenizer is
byte-level, so any text stays encodable. The corpus leans on what prompts and
moves actually contain — the prompt template, move-grammar words and engineering
English — so prompts stay short.

The simulator's own grammar words (:func:`grammar_words`: every move name and
closed argument value it offers) become whole tokens of their own. A byte-level
BPE splits ``api_endpoint`` at the underscore and spells ``ac2`` differently
after a space (``" a" "c" "2"``) than as an option (``"a" "c" "2"``), so the
token a move is chosen with was not the token the facts name it by; as one token
each, ``done: ac2`` in the prompt and the option ``ac2`` share one embedding, and
every move name or value is one choice. Such a token takes the space before it
(``lstrip``), so decoding drops that space (``done:ac2``): moves still parse, and
prompts are never decoded (the learner scores the stored ids).
"""

from __future__ import annotations

import functools
import random

from dojo.env import registry
from dojo.env.moves import TEXT_SEPARATOR
from dojo.env.protocol import EPISODE_TYPES, HELD_OUT_SEED_BASE, EpisodeSpec, Observation
from dojo.env.reference import make_reference_policy
from dojo.env.rollout import play
from dojo.policy.prompt import PLAIN_ANSWER_CUE, SYSTEM_INSTRUCTION


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


MOVE_NAMES = _words(
    "ask_question state_assumption request_example signal_ready create_task add_dependency "
    "identify_risk propose_approach compare_approaches signal_plan_complete read_file write_file "
    "edit_file run_tests commit checkpoint_continue checkpoint_pivot checkpoint_escalate "
    "assess_progress identify_issue research reread_requirements search fetch_doc search_code "
    "synthesize assess_confidence signal_sufficient assess_severity assess_blast_radius "
    "respond_fix_now respond_defer respond_escalate communicate investigate ask_for_help "
    "document_decision handoff_note review_code pair_up estimate split_task raise_blocker"
)
ARG_NAMES = _words(
    "dimension topic kind category severity size risk confidence approach level priority target "
    "scope source area depth choice reason type component audience urgency"
)
ARG_VALUES = _words(
    "scope constraints acceptance users data performance security interface error_handling "
    "low medium high critical small large none some many docs code tests api database ui "
    "now later defer fix escalate continue pivot yes no unknown minor major blocker p1 p2 p3 "
    "official blog forum changelog recent outdated primary secondary team lead product_owner"
)
# how the simulator words its observations (dojo.env episodes), for short prompts
OBSERVATION_PHRASES = (
    "Situation:",
    "Known so far:",
    "- nothing yet",
    "Messages:",
    "- none",
    "Moves (answer with exactly one line: name arg=value | text):",
)
PHASES = _words("elicitation research planning execution verification development qa_review retro")
ROLES = _words("developer tester lead architect product_owner")
NOUNS = _words(
    "requirement story task test build deploy service endpoint schema migration cache queue "
    "timeout retry dependency interface module function class parser config database index "
    "query user customer team sprint backlog estimate risk assumption constraint incident bug "
    "regression patch release version branch merge conflict review checkpoint plan approach "
    "trade-off spike prototype benchmark log metric alert rollback feature flag contract scope"
)
VERBS = _words(
    "add remove fix check verify clarify confirm split estimate document test deploy review "
    "refactor investigate measure rollback migrate validate parse retry cache log explain"
)
ADJECTIVES = _words(
    "ambiguous unclear missing flaky slow legacy critical minor new existing external internal "
    "risky safe small large stable broken outdated current"
)
# everyday and product English, so situations written in plain prose stay short too
COMMON_WORDS = _words(
    "the a an and or but if then when while because so to of in on at by for with from as is are "
    "was were be been has have had do does did not no yes can could should would will may must "
    "this that these those it its their they them we our you your he she his her who what which "
    "where why how all any each every many more most some few other one two three first last new "
    "old same different good well better best able need needs want wants make sure work works "
    "team teams product owner customer customers user users manager managers people person "
    "payments invoices billing orders order shipments shipment carrier warehouse warehouses "
    "patient patients records clinic clinics course courses student students teacher teachers "
    "subscription subscriptions store stores merchant merchants report reports spreadsheet "
    "download upload export import search find name date message notify notification status "
    "change changes screen dashboard summary totals archive year month week day days hour hours "
    "time deadline budget quarter audit auditors compliance personal details privacy data "
    "security performance load traffic peak latency error errors failure failures outage "
    "question questions answer answers example examples story stories acceptance criteria "
    "scope edge case cases usual understand understood known unknown clear vague detail "
    "decision decisions option options agree agreed ask asked tell told say said read write "
    "code codebase file files repository library framework language python typescript go java "
    "kotlin api ui job background query layer logic model service services system systems"
)
TEMPLATES = (
    "What is the {noun} for the {noun2}?",
    "Should we {verb} the {noun} before the {noun2}?",
    "I assume the {noun} is {adj}; please confirm.",
    "The {adj} {noun} blocks the {noun2}.",
    "We need to {verb} the {noun} and {verb2} the {noun2}.",
    "Is the {noun} in scope for this {noun2}?",
    "Risk: the {noun} may be {adj} under load.",
    "Plan: {verb} the {noun}, then {verb2} the {noun2}.",
    "The tests for the {noun} are {adj} after the {noun2} change.",
    "Can you give an example of the expected {noun}?",
    "I will {verb} the {noun} first because it is the riskiest part.",
    "Progress: the {noun} is done, the {noun2} is {adj}.",
)
_SEED = 20261125
_SENTENCES = 2400


def build_corpus() -> list[str]:
    """The corpus lines; identical on every call (seeded, no outside input)."""
    rng = random.Random(_SEED)
    lines = [SYSTEM_INSTRUCTION, PLAIN_ANSWER_CUE, *OBSERVATION_PHRASES]
    lines += [f"B-{code:02d}" for code in range(1, 31)]
    lines += [f"E-{stage}.{n}" for stage in range(1, 5) for n in range(1, 6)]
    for _ in range(_SENTENCES):
        words = {
            "noun": rng.choice(NOUNS),
            "noun2": rng.choice(NOUNS),
            "verb": rng.choice(VERBS),
            "verb2": rng.choice(VERBS),
            "adj": rng.choice(ADJECTIVES),
        }
        sentence = rng.choice(TEMPLATES).format(**words)
        name = rng.choice(MOVE_NAMES)
        args = " ".join(
            f"{rng.choice(ARG_NAMES)}={rng.choice(ARG_VALUES)}" for _ in range(rng.randint(0, 2))
        )
        move = f"{name} {args}".rstrip()
        lines.append(
            f"You are a {rng.choice(ROLES)} on team {rng.choice(NOUNS)}. Phase: {rng.choice(PHASES)}. "
            f"Decision {rng.randint(1, 30)} of at most {rng.randint(10, 50)}. "
            f"Time used: {rng.randint(0, 40)}.{rng.randint(0, 99):02d} h."
        )
        lines.append(f"- {move}{TEXT_SEPARATOR}<text>  — {sentence}")
        lines.append(f"{move}{TEXT_SEPARATOR}{sentence}")
        prose = " ".join(rng.choice(COMMON_WORDS) for _ in range(rng.randint(8, 16)))
        lines.append(f"{prose[0].upper()}{prose[1:]}.")
    return lines


_GRAMMAR_SEED = 20261126
_GRAMMAR_EPISODES_PER_TYPE = 20  # every value the catalogue offers shows up in far fewer


@functools.cache
def grammar_words() -> tuple[str, ...]:
    """Every move name and closed argument value the simulator offers, sorted.

    Read from what the observations offer in seeded random-policy episodes of every
    type (so a value new to the simulator is picked up without a list to keep in
    step); numbers are left to the byte-level tokens.
    """
    rng = random.Random(_GRAMMAR_SEED)
    words: set[str] = set()
    for episode_type in EPISODE_TYPES:
        for _ in range(_GRAMMAR_EPISODES_PER_TYPE):
            for observation in random_play(random_spec(rng, episode_type)):
                for move in observation.moves:
                    words.add(move.name)
                    words.update(v for arg in move.args for v in arg.values)
    return tuple(sorted(w for w in words if not w.isdigit()))


def random_spec(rng: random.Random, episode_type: str) -> EpisodeSpec:
    """An episode of ``episode_type`` on a training seed (never a held-out one)."""
    return EpisodeSpec(
        episode_type=episode_type,
        seed=rng.randrange(HELD_OUT_SEED_BASE),
        difficulty=round(rng.uniform(0.05, 0.95), 3),
        stage=registry.get(episode_type).stage,
    )


def random_play(spec: EpisodeSpec) -> list[Observation]:
    """The observations of one episode played by the scripted ``random`` policy."""
    return play(spec, make_reference_policy("random", spec.seed)).observations()
