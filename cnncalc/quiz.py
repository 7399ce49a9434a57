"""``cnncalc quiz``: practice questions, their answers and multiple-choice options.

Each question is a small network (a spec, as YAML would write it) and a quantity asked about it.
Its answer is computed by the calculator itself (the spec is read by :func:`cnncalc.spec.loads`
and analysed by :func:`cnncalc.analysis.analyse`, the same layer code as every other command), and
its wrong options are the named mistakes of :mod:`cnncalc.mistakes`, each one a wrong answer that
``cnncalc`` would name if a student gave it. Question ``i`` of seed ``S`` depends only on
``(S, i, topic, difficulty)``: the same seed gives the same questions, and the first ten of a quiz
of twenty are the quiz of ten.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from . import mistakes
from .analysis import analyse
from .errors import CnnCalcError
from .layers import fmt_shape
from .spec import loads

TOPICS = ("conv", "pool", "dense", "deconv", "rf", "params", "mixed")
MAX_COUNT = 10_000
LETTERS = "abcdefgh"
OPTIONS = 4                  # the right answer and up to three distractors


@dataclass
class Question:
    number: int
    topic: str
    difficulty: int
    text: str
    spec: dict[str, Any]                 # input and layers, as a YAML spec writes them
    ask: str                             # "output", "params" or "rf"
    answer: Any
    check: str                           # the cnncalc command that checks an answer
    options: list[tuple[Any, str | None]] = field(default_factory=list)  # (value, mistake)

    @property
    def answer_text(self) -> str:
        return show(self.ask, self.answer)

    @property
    def letter(self) -> str | None:
        for i, (_, why) in enumerate(self.options):
            if why is None:
                return LETTERS[i]
        return None


def show(ask: str, v: Any) -> str:
    if ask == "output":
        return fmt_shape(v)
    if ask == "rf":
        h, w = (int(x) for x in v)
        return str(h) if h == w else f"{h}x{w}"
    return f"{v:,}"


def _yaml(spec: dict[str, Any]) -> str:
    """The spec as YAML with the layers in flow style: ``input: …`` and ``layers: [...]``."""
    items = []
    for x in spec["layers"]:
        if isinstance(x, str):
            items.append(x)
            continue
        ((kind, args),) = x.items()
        items.append(f"{kind}: {_flow(args) if isinstance(args, dict) else json.dumps(args)}")
    return f"input: {spec['input']}\nlayers: [{', '.join(items)}]\n"


def _stdin_check(spec: dict[str, Any], flag: str) -> str:
    """The command that checks an answer about a whole spec: the YAML piped to ``cnncalc -``."""
    text = _yaml(spec).replace("\n", "\\n")
    return f"printf '{text}' | cnncalc - {flag} ANSWER"


def _flow(args: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in args.items()) + "}"


# --- the generators: (rng, difficulty) -> (text, spec, ask, check command) ----------------------

def _conv_args(rng: random.Random, level: int) -> tuple[int, int, dict[str, Any]]:
    """A square input and conv arguments whose output is at least 1."""
    while True:
        if level == 1:
            f = rng.choice([1, 3, 5])
            n = rng.randint(max(f, 5), 64)
            args = {"filters": rng.choice([4, 8, 16, 32, 64]), "kernel": f,
                    "padding": rng.choice([0, (f - 1) // 2])}
        elif level == 2:
            f = rng.choice([3, 5, 7])
            s = rng.choice([1, 2, 2])
            p = rng.choice([0, 1, 2, (f - 1) // 2])
            n = rng.randint(8, 128)
            if (n + 2 * p - f) % s:
                continue
            args = {"filters": rng.choice([8, 16, 32, 64, 96]), "kernel": f, "stride": s,
                    "padding": p}
        else:
            f = rng.choice([3, 5, 7, 11])
            s = rng.choice([1, 2, 3, 4])
            p = rng.choice([0, 1, 2, 3])
            d = rng.choice([1, 1, 2, 3])
            n = rng.randint(10, 227)
            args = {"filters": rng.choice([6, 16, 48, 96, 128]), "kernel": f, "stride": s,
                    "padding": p, "dilation": d}
        span = args.get("dilation", 1) * (args["kernel"] - 1) + 1
        if args["padding"] <= span - 1 and n + 2 * args["padding"] >= span:
            c = rng.choice([1, 3, 3, 8, 16]) if level < 3 else rng.choice([3, 16, 32, 64])
            return n, c, {k: v for k, v in args.items() if v not in (0, 1) or k == "filters"
                          or k == "kernel"}


def _conv_text(n: int, c: int, args: dict[str, Any]) -> str:
    f = args["kernel"]
    parts = [f"stride {args.get('stride', 1)}", f"padding {args.get('padding', 0)}"]
    if args.get("dilation", 1) > 1:
        parts.append(f"dilation {args['dilation']}")
    return (f"A convolutional layer with {args['filters']} filters of {f}×{f} "
            f"({', '.join(parts)}) takes a {n}×{n}×{c} input.")


def _conv_flags(args: dict[str, Any]) -> str:
    out = [f"-k {args['filters']}", f"-f {args['kernel']}"]
    for key, flag in (("stride", "-s"), ("padding", "-p"), ("dilation", "-d"), ("groups", "-g")):
        if key in args:
            out.append(f"{flag} {args[key]}")
    if args.get("bias") is False:
        out.append("--no-bias")
    return " ".join(out)


def gen_conv(rng: random.Random, level: int):
    n, c, args = _conv_args(rng, level)
    return (_conv_text(n, c, args) + " What is the output shape (H×W×C)?",
            {"input": f"{n}x{n}x{c}", "layers": [{"conv": args}]}, "output",
            f"cnncalc conv {n}x{n}x{c} {_conv_flags(args)} --expect ANSWER")


def gen_pool(rng: random.Random, level: int):
    while True:
        c = rng.choice([3, 16, 32, 64, 96, 128, 256])
        if level == 1:
            size, stride, pad = 2, 2, 0
            n = 2 * rng.randint(2, 112)
        elif level == 2:
            size, stride, pad = rng.choice([(3, 2, 0), (3, 2, 1), (2, 2, 0), (3, 1, 1)])
            n = rng.randint(5, 112)
            if (n + 2 * pad - size) % stride:
                continue
        else:
            size, stride, pad = rng.choice([(3, 2, 0), (3, 2, 1), (2, 2, 0), (5, 3, 2), (3, 3, 1)])
            n = rng.randint(5, 227)
        if n + 2 * pad < size:
            continue
        args: dict[str, Any] = {"size": size}
        if stride != size:
            args["stride"] = stride
        if pad:
            args["padding"] = pad
        text = (f"A {size}×{size} max pooling layer with stride {stride}"
                + (f" and padding {pad}" if pad else "") + f" takes a {n}×{n}×{c} input. "
                f"What is the output shape (H×W×C)?")
        flags = f"-f {size} -s {stride}" + (f" -p {pad}" if pad else "")
        return (text, {"input": f"{n}x{n}x{c}", "layers": [{"maxpool": args}]}, "output",
                f"cnncalc pool {n}x{n}x{c} {flags} --expect ANSWER")


def gen_dense(rng: random.Random, level: int):
    units = rng.choice([10, 32, 64, 100, 120, 128, 256, 500, 1000])
    if level == 1:
        n = rng.choice([16, 64, 84, 100, 120, 256, 400, 512, 784, 1024])
        return (f"A fully connected layer with {units} units takes a vector of {n} inputs. "
                f"How many parameters does it have (weights and biases)?",
                {"input": f"[{n}]", "layers": [{"dense": units}]}, "params",
                f"cnncalc dense [{n}] --units {units} --expect-params ANSWER")
    if level == 2:
        h = rng.choice([7, 14, 28, 32, 64, 100, 300])
        c = rng.choice([1, 3, 16, 64])
        return (f"A {h}×{h}×{c} input is flattened and fed to a fully connected layer with "
                f"{units} units. How many parameters does that layer have (weights and "
                f"biases)?",
                {"input": f"{h}x{h}x{c}", "layers": ["flatten", {"dense": units}]}, "params",
                f"cnncalc dense {h}x{h}x{c} --units {units} --expect-params ANSWER")
    n = rng.choice([256, 400, 512, 1024, 2048, 4096])
    second = rng.choice([10, 84, 100, 1000])
    spec = {"input": f"[{n}]", "layers": [{"dense": units}, {"dense": second}]}
    return (f"A vector of {n} values goes through a fully connected layer of {units} units and "
            f"then one of {second} units. How many parameters do the two layers have together?",
            spec, "params", _stdin_check(spec, "--expect-params"))


def gen_deconv(rng: random.Random, level: int):
    while True:
        n = rng.randint(2, 32)
        if level == 1:
            f, s, p, a = rng.choice([2, 3, 4]), 1, 0, 0
            p = rng.choice([0, (f - 1) // 2])
        elif level == 2:
            f, s = rng.choice([(2, 2), (3, 2), (4, 2), (3, 1), (5, 2)])
            p, a = rng.choice([0, 1, (f - 1) // 2]), 0
        else:
            f, s = rng.choice([(3, 2), (4, 2), (5, 2), (3, 3), (5, 3)])
            p = rng.choice([0, 1, 2])
            a = rng.randrange(0, s)
        if p > f - 1 or (n - 1) * s - 2 * p + f + a <= 0:
            continue
        k = rng.choice([1, 16, 32, 64, 128])
        args: dict[str, Any] = {"filters": k, "kernel": f}
        flags = f"-k {k} -f {f}"
        if s != 1:
            args["stride"] = s
            flags += f" -s {s}"
        if p:
            args["padding"] = p
            flags += f" -p {p}"
        if a:
            args["output_padding"] = a
            flags += f" --output-padding {a}"
        c = rng.choice([1, 64, 128, 256])
        text = (f"A transposed convolution (PyTorch's ConvTranspose2d) with {k} "
                f"filter{'s' if k > 1 else ''} of "
                f"{f}×{f}, stride {s}, padding {p}" + (f" and output padding {a}" if a else "")
                + f" takes a {n}×{n}×{c} input. What is the output shape (H×W×C)?")
        return (text, {"input": f"{n}x{n}x{c}", "layers": [{"conv_transpose": args}]}, "output",
                f"cnncalc deconv {n}x{n}x{c} {flags} --expect ANSWER")


def gen_rf(rng: random.Random, level: int):
    layers: list[dict[str, Any]] = []
    words: list[str] = []
    count = {1: rng.randint(2, 4), 2: rng.randint(2, 4), 3: rng.randint(3, 5)}[level]
    for i in range(count):
        pool = level >= 2 and i > 0 and rng.random() < 0.4
        if pool:
            size = rng.choice([2, 3])
            stride = 2
            layers.append({"maxpool": {"size": size, "stride": stride}})
            words.append(f"a {size}×{size} max pool with stride {stride}")
            continue
        f = rng.choice([3, 3, 5]) if level < 3 else rng.choice([3, 5, 7])
        s = 1 if level == 1 else rng.choice([1, 1, 2])
        d = rng.choice([1, 1, 2]) if level == 3 else 1
        args: dict[str, Any] = {"filters": 8, "kernel": f, "padding": d * (f - 1) // 2}
        if s > 1:
            args["stride"] = s
        if d > 1:
            args["dilation"] = d
        layers.append({"conv": args})
        extras = [w for w in (f"stride {s}" if s > 1 else "", f"dilation {d}" if d > 1 else "")
                  if w]
        words.append(f"a {f}×{f} convolution" + (f" with {' and '.join(extras)}" if extras else ""))
    text = ("These layers are stacked, in order: " + "; ".join(words) + ". What is the "
            "receptive field of one output of the last layer, in input pixels (one side)?")
    spec = {"input": "64x64x1", "layers": layers}
    return text, spec, "rf", _stdin_check(spec, "--expect-rf")


def gen_params(rng: random.Random, level: int):
    f = rng.choice([1, 3, 5, 7])
    c = rng.choice([1, 3, 16, 32, 64, 128, 192, 256] if level < 3 else [4, 16, 32, 64, 128])
    k = rng.choice([8, 10, 16, 32, 64, 100, 128, 256])
    n = rng.choice([28, 32, 56, 64, 128, 224, 300])
    args: dict[str, Any] = {"filters": k, "kernel": f}
    extra = ""
    if level == 2 and rng.random() < 0.5:
        args["bias"] = False
        extra = ", without biases"
    if level == 3:
        g = rng.choice([2, 4])
        if c % g or k % g or rng.random() < 0.5:            # depthwise: groups = channels
            g = c
            k = c * rng.choice([1, 2])
            args["filters"] = k
            extra = (f", depthwise (groups {g}: {k // c} filter{'s' if k > c else ''} per "
                     f"input channel)")
        else:
            extra = f", in {g} groups"
        args["groups"] = g
    k = args["filters"]
    text = (f"A convolutional layer takes a {n}×{n}×{c} input and has {k} "
            f"filter{'s' if k > 1 else ''} of {f}×{f}{extra}. How many parameters does it have?")
    return (text, {"input": f"{n}x{n}x{c}", "layers": [{"conv": args}]}, "params",
            f"cnncalc conv {n}x{n}x{c} {_conv_flags(args)} --expect-params ANSWER")


GENERATORS: dict[str, Callable[[random.Random, int], Any]] = {
    "conv": gen_conv, "pool": gen_pool, "dense": gen_dense, "deconv": gen_deconv,
    "rf": gen_rf, "params": gen_params}


# --- the quiz ------------------------------------------------------------------------------------

def question(seed: int, number: int, topic: str, difficulty: int, distractors: bool
             ) -> Question:
    """Question ``number`` (1-based) of the quiz with ``seed``."""
    rng = random.Random(f"cnncalc-quiz:{seed}:{number}:{topic}:{difficulty}")
    kind = rng.choice(list(GENERATORS)) if topic == "mixed" else topic
    text, spec, ask, check = GENERATORS[kind](rng, difficulty)
    model = loads(_yaml(spec), "<quiz>", "quiz")
    a = analyse(model)
    t = mistakes.network(a)
    answer = mistakes.value(a, t, ask)
    q = Question(number, kind, difficulty, text, spec, ask, answer, check)
    if distractors:
        wrong = mistakes.alternatives(model, a, t, ask, limit=OPTIONS - 1)
        opts: list[tuple[Any, str | None]] = [(answer, None)] + [(v, why) for why, v in wrong]
        random.Random(f"cnncalc-quiz-options:{seed}:{number}").shuffle(opts)
        q.options = opts
    return q


def make(count: int, seed: int, topic: str, difficulty: int, distractors: bool
         ) -> list[Question]:
    if not 1 <= count <= MAX_COUNT:
        raise CnnCalcError(f"--count must be between 1 and {MAX_COUNT:,}, got {count}")
    if topic not in TOPICS:
        raise CnnCalcError(f"--topic must be one of {', '.join(TOPICS)}, got {topic!r}")
    if difficulty not in (1, 2, 3):
        raise CnnCalcError(f"--difficulty must be 1, 2 or 3, got {difficulty}")
    return [question(seed, i, topic, difficulty, distractors) for i in range(1, count + 1)]


# --- rendering ---------------------------------------------------------------------------------

def _option_line(q: Question) -> str:
    return "   ".join(f"{LETTERS[i]}) {show(q.ask, v)}" for i, (v, _) in enumerate(q.options))


def render_text(qs: list[Question], header: str, answers: bool) -> str:
    lines = [header, ""]
    for q in qs:
        lines.append(f"{q.number}. [{q.topic}] {q.text}")
        if q.options:
            lines.append(f"   {_option_line(q)}")
        lines.append(f"   check an answer: {q.check}")
        lines.append("")
    if answers:
        lines += ["Answers", ""]
        for q in qs:
            letter = f" ({q.letter})" if q.letter else ""
            lines.append(f"{q.number}. {q.answer_text}{letter}")
            for i, (v, why) in enumerate(q.options):
                if why is not None:
                    lines.append(f"   {LETTERS[i]}) {show(q.ask, v)}: {why}")
    return "\n".join(lines).rstrip("\n") + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(qs: list[Question], header: str, answers: bool) -> str:
    lines = [f"# {header}", ""]
    for q in qs:
        lines.append(f"{q.number}. {_md(q.text)}")
        for i, (v, _) in enumerate(q.options):
            lines.append(f"   - {LETTERS[i]}) `{show(q.ask, v)}`")
        lines.append("")
    if answers:
        lines += ["## Answers", "", "| # | answer | the wrong options | check |",
                  "|---|---|---|---|"]
        for q in qs:
            letter = f" ({q.letter})" if q.letter else ""
            wrong = "<br>".join(f"{LETTERS[i]}) `{show(q.ask, v)}`: {_md(why)}"
                                for i, (v, why) in enumerate(q.options) if why is not None)
            lines.append(f"| {q.number} | `{q.answer_text}`{letter} | {wrong} | "
                         f"`{_md(q.check)}` |")
    return "\n".join(lines).rstrip("\n") + "\n"


def _value_json(ask: str, v: Any) -> Any:
    if ask == "output":
        return list(v)
    if ask == "rf":
        return [int(x) for x in v]
    return v


def render_json(qs: list[Question], meta: dict[str, Any], answers: bool) -> dict[str, Any]:
    out = []
    for q in qs:
        item: dict[str, Any] = {"number": q.number, "topic": q.topic,
                                "difficulty": q.difficulty, "question": q.text, "ask": q.ask,
                                "spec": _yaml(q.spec), "check": q.check}
        if q.options:
            item["options"] = [{"letter": LETTERS[i], "value": _value_json(q.ask, v),
                                "text": show(q.ask, v)} for i, (v, _) in enumerate(q.options)]
        if answers:
            item["answer"] = {"value": _value_json(q.ask, q.answer), "text": q.answer_text,
                              "letter": q.letter}
            if q.options:
                item["mistakes"] = {LETTERS[i]: why for i, (v, why) in enumerate(q.options)
                                    if why is not None}
        out.append(item)
    return {**meta, "questions": out}
