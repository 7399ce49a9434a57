"""`cnncalc quiz` (issue 9, item 5): reproducible questions whose answers are checked by another
route than the layer code that computed them.

- shapes: the NumPy engine (`--run`'s, cnncalc.forward, or cnncalc.engine after the engine split)
  runs each question's network on a random input and its actual output shape must be the answer;
- receptive fields: the engine runs the network on whole-row and whole-column impulses with
  positive weights, and the rows and columns that reach the centre output must number the answer;
- parameter counts: PyTorch modules built from the same spec, when torch is importable.

Every distractor must be named by the check command as the mistake the answer sheet gives.
"""

from __future__ import annotations

import importlib
import json
import math
import shlex

import numpy as np
import pytest
from conftest import assert_clean_error, invoke

import cnncalc
from cnncalc import quiz

try:                         # the engine split moves cnncalc.forward to cnncalc.engine
    eng = importlib.import_module("cnncalc.engine")
except ImportError:
    eng = importlib.import_module("cnncalc.forward")

CASES = [(seed, topic, level) for seed in (0, 1) for topic in quiz.TOPICS if topic != "mixed"
         for level in (1, 2, 3)]
QUESTIONS = [q for seed, topic, level in CASES
             for q in quiz.make(3, seed, topic, level, distractors=True)]


def _model(q: quiz.Question, shape: tuple[int, ...] | None = None) -> cnncalc.Analysis:
    return cnncalc.analyse(cnncalc.loads(quiz._yaml(q.spec)), shape)


def _check_command(q: quiz.Question, answer: str):
    """Run the question's check command with ``answer`` (the YAML of a printf is its stdin)."""
    cmd = q.check.replace("ANSWER", shlex.quote(answer))
    stdin = ""
    if cmd.startswith("printf "):
        text, cmd = cmd.split(" | ", 1)
        stdin = shlex.split(text)[1].replace("\\n", "\n")
    args = shlex.split(cmd)
    assert args[0] == "cnncalc"
    return invoke(*args[1:], stdin=stdin)


# --- reproducible, bounded ---------------------------------------------------------------------

def test_the_same_seed_gives_the_same_questions(cli):
    a = cli("quiz", "--count", "8", "--seed", "5", "--distractors", "--answers")
    b = cli("quiz", "--count", "8", "--seed", "5", "--distractors", "--answers")
    assert a.code == 0 and a.out == b.out
    assert cli("quiz", "--count", "8", "--seed", "6").out != cli("quiz", "--count", "8",
                                                                 "--seed", "5").out
    # the first questions do not depend on the count, nor on --distractors
    few = quiz.make(3, 5, "mixed", 2, False)
    more = quiz.make(6, 5, "mixed", 2, True)
    assert [q.text for q in few] == [q.text for q in more[:3]]


def test_without_a_seed_one_is_chosen_and_printed(cli):
    res = cli("quiz", "--count", "2")
    assert res.code == 0 and ", seed " in res.out.splitlines()[0]
    seed = res.out.splitlines()[0].rsplit("seed ", 1)[1]
    assert cli("quiz", "--count", "2", "--seed", seed).out == res.out


@pytest.mark.parametrize("count", ["0", "-1", "10001", "100000"])
def test_count_out_of_range_is_one_line(cli, count):
    assert_clean_error(cli("quiz", "--count", count), "--count must be between 1 and 10,000")


@pytest.mark.parametrize("args, needle", [
    (["--topic", "cnn"], "--topic"), (["--difficulty", "4"], "--difficulty"),
    (["--count", "ten"], "--count"), (["--seed", "-1"], "--seed"),
])
def test_bad_options_are_one_line(cli, args, needle):
    assert_clean_error(cli("quiz", *args), needle)


def test_mixed_draws_from_every_topic():
    topics = {q.topic for q in quiz.make(60, 4, "mixed", 2, False)}
    assert topics == set(quiz.GENERATORS)


def test_ten_thousand_questions_are_allowed():
    assert len(quiz.make(10_000, 3, "pool", 1, False)) == 10_000


# --- formats ---------------------------------------------------------------------------------

def test_text_with_answers_and_distractors(cli):
    out = cli("quiz", "--count", "3", "--seed", "7", "--distractors", "--answers").out
    assert out.startswith("cnncalc quiz: 3 questions, topic mixed, difficulty 1, seed 7\n")
    assert "\n1. [" in out and "   a) " in out and "check an answer: cnncalc " in out
    answers = out.split("\nAnswers\n", 1)[1]
    assert answers.count("\n") >= 3
    no_answers = cli("quiz", "--count", "3", "--seed", "7", "--distractors").out
    assert "Answers" not in no_answers


def test_json_and_markdown(cli):
    obj = json.loads(cli("quiz", "--count", "4", "--seed", "2", "--topic", "deconv",
                         "-F", "json", "--answers", "--distractors").out)
    assert (obj["count"], obj["seed"], obj["topic"]) == (4, 2, "deconv")
    q = obj["questions"][0]
    assert {"number", "question", "ask", "spec", "check", "options", "answer",
            "mistakes"} <= set(q)
    assert q["answer"]["letter"] in [o["letter"] for o in q["options"]]
    assert "answer" not in json.loads(cli("quiz", "--count", "1", "--seed", "2", "-F",
                                          "json").out)["questions"][0]
    md = cli("quiz", "--count", "3", "--seed", "2", "-F", "markdown", "--answers",
             "--distractors").out
    assert md.startswith("# cnncalc quiz") and "\n## Answers\n" in md
    assert "| # | answer | the wrong options | check |" in md


# --- every answer, by another route ---------------------------------------------------------

@pytest.mark.parametrize("q", [q for q in QUESTIONS if q.ask == "output"],
                         ids=lambda q: f"{q.topic}-{q.difficulty}-{q.number}")
def test_shape_answers_match_the_engine(q):
    a = _model(q)
    x = eng.random_input(a.input, 1, 0)
    res = eng.run(a, x)
    assert res.verified, res.failure
    assert tuple(res.output.shape[1:]) == tuple(q.answer)


def _positive_weights(a: cnncalc.Analysis, path) -> "eng.NpzWeights":
    arrays = {}
    for rec in a.layers:
        for spec in eng.param_specs(rec):
            fill = 0.0 if spec.kind == "bias" else 1.0
            arrays[eng.npz_keys(rec, spec)[0]] = np.full(spec.shape, fill, np.float32)
    np.savez(path, **arrays)
    return eng.NpzWeights(str(path))


@pytest.mark.parametrize("q", [q for q in QUESTIONS if q.ask == "rf"],
                         ids=lambda q: f"{q.topic}-{q.difficulty}-{q.number}")
def test_receptive_field_answers_match_impulses_through_the_engine(q, tmp_path):
    """With positive weights and no biases, an output sees an input pixel exactly when that
    pixel is connected to it. Row (and column) impulses give the rows (columns) seen by the
    centre output of an input large enough to hold the whole field; their extent is the
    receptive field (a dilated kernel leaves rows between them unseen)."""
    rf = int(q.answer[0])
    side = 2 * rf + 16
    a = _model(q, (side, side, 1))
    weights = _positive_weights(a, tmp_path / "w.npz")
    h, w = a.output[:2]
    seen = []
    for axis in (0, 1):
        x = np.zeros((side, side, side, 1), np.float32)
        for i in range(side):
            if axis == 0:
                x[i, i, :, 0] = 1.0
            else:
                x[i, :, i, 0] = 1.0
        res = eng.run(a, x, weights)
        assert res.verified, res.failure
        rows = np.flatnonzero(res.output[:, h // 2, w // 2, :].sum(axis=-1) > 0)
        seen.append(int(rows[-1] - rows[0] + 1))     # the extent (a dilated field has gaps)
    assert tuple(seen) == (rf, rf), (q.text, seen)


def _torch_module(spec: dict, torch):
    """The spec's layers as torch modules on the meta device (counted, never allocated)."""
    layers = []
    shape = [int(d) for d in str(spec["input"]).strip("[]").split("x")]
    for item in spec["layers"]:
        if item == "flatten":
            layers.append(torch.nn.Flatten())
            shape = [math.prod(shape)]
            continue
        ((kind, args),) = item.items()
        if kind == "conv":
            f = args["kernel"]
            layers.append(torch.nn.Conv2d(shape[-1], args["filters"], f,
                                          groups=args.get("groups", 1),
                                          bias=args.get("bias", True), device="meta"))
            shape = [1, 1, args["filters"]]
        elif kind == "dense":
            units = args if isinstance(args, int) else args["units"]
            layers.append(torch.nn.Linear(shape[-1], units, device="meta"))
            shape = [units]
        else:
            raise AssertionError(kind)
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("q", [q for q in QUESTIONS if q.ask == "params"],
                         ids=lambda q: f"{q.topic}-{q.difficulty}-{q.number}")
def test_parameter_answers_match_torch(q, torch):
    m = _torch_module(q.spec, torch)
    assert sum(p.numel() for p in m.parameters()) == q.answer


# --- the check commands and the distractors ----------------------------------------------------

@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: f"{q.topic}-{q.difficulty}-{q.number}")
def test_each_question_checks_its_answer_and_names_each_distractor(q):
    res = _check_command(q, q.answer_text)
    assert res.code == 0 and "✓" in res.out, (q.check, res.out, res.err)
    assert q.options and sum(why is None for _, why in q.options) == 1
    assert len(q.options) >= 2, q.text          # at least one named wrong option
    for value, why in q.options:
        if why is None:
            continue
        res = _check_command(q, quiz.show(q.ask, value))
        assert res.code == 1, (q.check, value)
        line = next(ln for ln in res.out.splitlines() if ln.startswith("  likely mistake: "))
        assert why in line, (why, line)


def test_distractors_cover_the_mistakes_the_issue_names():
    """Forgotten bias, padding ignored and floor/ceil swapped all appear as options."""
    reasons = " ".join(why for q in QUESTIONS for _, why in q.options if why)
    for needle in ("left out the biases", "forgot the padding", "used ceil where floor applies",
                   "forgot the output padding", "summed the kernel sizes"):
        assert needle in reasons, needle
