"""Tasks with checkable answers for the inference-time protocol (the experiments of App. A.1).

A :class:`Task` is questions, gold answers, a prompt template with an optional one-shot worked
example (the paper prompts 1-shot "to fix the output format and elicit chain of thought"), and the
two functions the protocol needs: ``extract_answer(text)`` (the final answer ``y_ans`` of a
response, used by the majority-vote self-reward) and ``is_correct(pred, gold)`` (ground truth, used
only for evaluation). Built-in tasks are generated deterministically from a seed, and
:func:`load_jsonl` reads a user's question/answer file in GSM8k (``#### answer``) or MATH
(``\\boxed{answer}``) style. Nothing is fetched at run time.

This module needs neither torch nor transformers.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from theory.checks import check_count

from .._rollouts import Rollouts, check_rollouts

_NUMBER = r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:/\d+)?"


# --------------------------------------------------------------------------------------------
# Answer extraction and comparison


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (nested braces matched), or None."""
    start = text.rfind("\\boxed")
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j].strip()
    return None


def gold_answer(solution: str) -> str:
    """The final answer of a reference solution: after ``####`` (GSM8k), else the last
    ``\\boxed{}`` (MATH), else the whole stripped string."""
    if "####" in solution:
        return solution.split("####")[-1].strip()
    boxed = last_boxed(solution)
    return boxed if boxed is not None else solution.strip()


def normalize_answer(answer: str) -> str:
    """Canonical form of an answer string for comparison and vote counting.

    Lower-cases, drops surrounding ``$``, ``\\text{}``, spaces and a trailing period, removes
    thousands separators inside numbers and rewrites ``\\frac{a}{b}`` as ``a/b``; a number is
    printed in shortest form (``3.0`` -> ``3``).
    """
    s = answer.strip()
    s = re.sub(r"\\(?:text|mathrm|textbf)\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}", r"\1/\2", s)
    s = s.replace("\\!", "").replace("\\,", "").replace("\\%", "").replace("%", "")
    s = s.strip().strip("$").strip().rstrip(".").strip()
    s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)
    s = re.sub(r"\s+", "", s).lower()
    value = _as_number(s)
    if value is not None and math.isfinite(value) and "/" not in s:
        s = f"{value:.10g}"
    return s


def _as_number(s: str) -> float | None:
    s = s.replace(",", "")
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)(?:/(\d+(?:\.\d+)?))?", s)
    if not m:
        return None
    num = float(m.group(1))
    if m.group(2) is None:
        return num
    den = float(m.group(2))
    return num / den if den != 0 else None


def answers_match(pred: str | None, gold: str) -> bool:
    """True when the normalized answers agree, numerically (relative 1e-6) or as strings."""
    if pred is None:
        return False
    a, b = normalize_answer(pred), normalize_answer(gold)
    if a == b:
        return True
    x, y = _as_number(a), _as_number(b)
    if x is not None and y is not None:
        return abs(x - y) <= 1e-6 * max(1.0, abs(y))
    return False


def extract_final_answer(text: str) -> str | None:
    """The final answer of a response, or None when there is none.

    In order: the text after ``####``; the last ``\\boxed{}``; the first number (else first word)
    after the last "answer is"; the last number in the text.
    """
    if "####" in text:
        tail = text.split("####")[-1].strip().splitlines()
        return tail[0].strip() if tail and tail[0].strip() else None
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    matches = list(re.finditer(r"answer is\s*:?\s*", text, flags=re.IGNORECASE))
    if matches:
        tail = text[matches[-1].end() :].splitlines()
        tail = tail[0] if tail else ""
        num = re.search(_NUMBER, tail)
        if num:
            return num.group(0)
        word = re.match(r"\s*\$?([A-Za-z]+)", tail)
        if word:
            return word.group(1)
    nums = re.findall(_NUMBER, text)
    return nums[-1] if nums else None


def extract_first_number(text: str) -> str | None:
    """The number after the last "answer is", else the first number in the text."""
    matches = list(re.finditer(r"answer is\s*:?\s*", text, flags=re.IGNORECASE))
    if matches:
        num = re.search(_NUMBER, text[matches[-1].end() :])
        if num:
            return num.group(0)
    num = re.search(_NUMBER, text)
    return num.group(0) if num else None


def extract_true_false(text: str) -> str | None:
    """``"true"``/``"false"``: the word after the last "answer is", else the last one mentioned."""
    matches = list(re.finditer(r"answer is\s*:?\s*\W*(true|false)\b", text, flags=re.IGNORECASE))
    if matches:
        return matches[-1].group(1).lower()
    words = re.findall(r"\b(true|false)\b", text, flags=re.IGNORECASE)
    return words[-1].lower() if words else None


# --------------------------------------------------------------------------------------------
# Task


@dataclasses.dataclass(frozen=True)
class Task:
    """Questions with gold answers, a 1-shot prompt format and answer checking.

    Attributes:
      name: short name (used in file names and tables).
      questions: ``Q`` question strings.
      answers: ``Q`` gold final answers (strings).
      template: prompt format with a ``{question}`` field.
      example: optional ``(question, worked solution)`` shown once before the question.
      instruction: optional text put first in every prompt.
      extract_answer: response text -> final answer string, or None when there is none.
      is_correct: ``(predicted answer or None, gold answer) -> bool``.
      stop: stop strings for decoding (a model that has answered often goes on to write the next
        "Question:" of the few-shot pattern; its text is not part of the answer).
    """

    name: str
    questions: tuple[str, ...]
    answers: tuple[str, ...]
    template: str = "Question: {question}\nAnswer:"
    example: tuple[str, str] | None = None
    instruction: str = ""
    extract_answer: Callable[[str], str | None] = extract_final_answer
    is_correct: Callable[[str | None, str], bool] = answers_match
    stop: tuple[str, ...] = ("\nQuestion:",)

    def __post_init__(self):
        if len(self.questions) != len(self.answers):
            raise ValueError(
                f"questions and answers must have the same length, got {len(self.questions)} and "
                f"{len(self.answers)}"
            )
        if "{question}" not in self.template:
            raise ValueError(f"template must contain a {{question}} field, got {self.template!r}")

    def __len__(self) -> int:
        return len(self.questions)


def subset(task: Task, num_questions: int, start: int = 0) -> Task:
    """The task restricted to questions ``start .. start + num_questions - 1``."""
    num_questions = check_count(num_questions, "num_questions")
    if start < 0 or start + num_questions > len(task):
        raise ValueError(
            f"num_questions={num_questions} from start={start} exceeds the task's "
            f"{len(task)} questions"
        )
    end = start + num_questions
    return dataclasses.replace(
        task, questions=task.questions[start:end], answers=task.answers[start:end]
    )


def format_prompt(task: Task, question: str) -> str:
    """The full prompt for one question: instruction, the worked example, then the question."""
    parts = []
    if task.instruction:
        parts.append(task.instruction)
    if task.example is not None:
        q, solution = task.example
        parts.append(task.template.format(question=q) + " " + solution)
    parts.append(task.template.format(question=question))
    return "\n\n".join(parts)


def task_prompts(task: Task) -> list[str]:
    """The prompt of every question, in order (``Rollouts.prompts`` index this list)."""
    return [format_prompt(task, q) for q in task.questions]


def grade(
    task: Task, texts: Sequence[Sequence[str]], questions: Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray, list[list[str | None]]]:
    """Extracts and checks the answer of every response.

    Args:
      task: the task.
      texts: ``texts[p][n]`` response strings.
      questions: ``[P]`` task question index of each row (default ``0..P-1``).

    Returns:
      ``(answers, correct, extracted)``: ``answers [P, N]`` int codes of the normalized extracted
      answers, numbered per prompt in order of first appearance (``-1`` when none was extracted),
      so equal codes mean equal answers (majority vote); ``correct [P, N]`` bool; ``extracted``
      the raw extracted strings.
    """
    P = len(texts)
    questions = list(range(P)) if questions is None else [int(q) for q in questions]
    if len(questions) != P:
        raise ValueError(
            f"questions must have one entry per row of texts ({P}), got {len(questions)}"
        )
    N = len(texts[0]) if P else 0
    if any(len(row) != N for row in texts):
        raise ValueError("texts must be a rectangular [P][N] list of strings")
    answers = np.full((P, N), -1, dtype=np.int32)
    correct = np.zeros((P, N), dtype=bool)
    extracted: list[list[str | None]] = []
    for p, row in enumerate(texts):
        q = questions[p]
        if not 0 <= q < len(task):
            raise ValueError(f"question index {q} out of range for a task of {len(task)} questions")
        answers[p], ex_row = answer_codes(task.extract_answer, row)
        correct[p] = [bool(task.is_correct(pred, task.answers[q])) for pred in ex_row]
        extracted.append(ex_row)
    return answers, correct, extracted


def answer_codes(
    extract_answer: Callable[[str], str | None], texts: Sequence[str]
) -> tuple[np.ndarray, list[str | None]]:
    """``(codes [N], extracted)`` of one prompt's ``N`` responses, the votes of majority voting.

    ``codes[n]`` numbers the normalized extracted answers in order of first appearance (``-1``
    when ``extract_answer`` found none), so equal codes mean equal answers; no gold answer is
    read. ``extracted`` holds the raw extracted strings.
    """
    codes: dict[str, int] = {}
    out = np.full(len(texts), -1, dtype=np.int32)
    extracted = []
    for n, text in enumerate(texts):
        pred = extract_answer(text)
        extracted.append(pred)
        if pred is not None:
            out[n] = codes.setdefault(normalize_answer(pred), len(codes))
    return out, extracted


def label_rollouts(
    task: Task, rollouts: Rollouts, texts: Sequence[Sequence[str]], questions=None
) -> Rollouts:
    """``rollouts`` with ``answers`` and ``correct`` filled from the decoded ``texts``.

    ``questions`` maps ``rollouts.prompts`` to task question indices (default: identity, i.e. the
    rollouts were sampled from :func:`task_prompts` of this task).
    """
    rollouts = check_rollouts(rollouts)
    idx = np.asarray(rollouts.prompts)
    q = idx if questions is None else np.asarray(questions)[idx]
    answers, correct, _ = grade(task, texts, q)
    if answers.shape != tuple(rollouts.logp_base.shape):
        raise ValueError(
            f"texts must be [P][N] = {tuple(rollouts.logp_base.shape)}, got {answers.shape}"
        )
    return dataclasses.replace(rollouts, answers=jnp.asarray(answers), correct=jnp.asarray(correct))


# --------------------------------------------------------------------------------------------
# Built-in tasks (generated from a seed; nothing downloaded)


def _ints(key: jax.Array, shape: tuple[int, ...]) -> np.ndarray:
    # int32 draws give the same numbers with and without jax_enable_x64.
    return np.asarray(jax.random.randint(key, shape, 0, 2**30, dtype=jnp.int32))


def _draws(seed: int, num_questions: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``(questions [Q, width], example [width])`` random rows of a built-in task.

    The worked example's row comes from its own key (``fold_in``), so the example, and with it
    every prompt, is the same whatever ``num_questions`` is; the first ``k`` questions are the
    same for every ``num_questions >= k`` (JAX's partitionable Threefry, the default, draws each
    entry from its own counter).
    """
    key = jax.random.key(seed)
    return _ints(key, (num_questions, width)), _ints(jax.random.fold_in(key, 1), (width,))


def _evaluate(numbers: Sequence[int], ops: Sequence[str]) -> int:
    """Integer value of ``n0 op0 n1 op1 ...`` with the usual precedence of * over + and -."""
    terms = [numbers[0]]
    signs = [1]
    for op, x in zip(ops, numbers[1:], strict=True):
        if op == "*":
            terms[-1] *= x
        else:
            terms.append(x)
            signs.append(1 if op == "+" else -1)
    return sum(s * t for s, t in zip(signs, terms, strict=True))


def _solution(numbers: Sequence[int], ops: Sequence[str]) -> str:
    """Worked left-to-right steps (for + and - only) ending in 'The answer is X.'"""
    steps = []
    acc = numbers[0]
    for op, x in zip(ops, numbers[1:], strict=True):
        new = acc + x if op == "+" else acc - x if op == "-" else acc * x
        steps.append(f"{acc} {op} {x} = {new}.")
        acc = new
    return " ".join(steps) + f" The answer is {acc}."


def arithmetic(
    num_questions: int = 256,
    seed: int = 0,
    *,
    num_steps: int = 2,
    max_operand: int = 20,
    ops: str = "+",
) -> Task:
    """Multi-step integer arithmetic with exact answers: "What is 12 + 7 + 5?" -> "24".

    The default (two additions of operands up to 20) is within reach of a 135M-parameter model
    with a worked example; ``ops="+-*"`` and more steps make it harder.

    Args:
      num_questions: number of questions.
      seed: generation seed (the same seed gives the same questions on every machine).
      num_steps: operations per question (``num_steps + 1`` operands).
      max_operand: operands are drawn uniformly from ``1..max_operand``.
      ops: operators to draw from (any of ``+-*``; ``*`` binds tighter).
    """
    num_questions = check_count(num_questions, "num_questions")
    num_steps = check_count(num_steps, "num_steps")
    max_operand = check_count(max_operand, "max_operand")
    if not ops or any(o not in "+-*" for o in ops):
        raise ValueError(f"ops must be a non-empty string over '+-*', got {ops!r}")
    # the last row is the worked example (drawn independently of num_questions)
    draws, example_row = _draws(seed, num_questions, 2 * num_steps + 1)
    questions, answers, rows = [], [], []
    for row in [*draws, example_row]:
        numbers = [int(v) % max_operand + 1 for v in row[: num_steps + 1]]
        chosen = [ops[int(v) % len(ops)] for v in row[num_steps + 1 :]]
        expr = " ".join(
            [str(numbers[0])] + [f"{o} {x}" for o, x in zip(chosen, numbers[1:], strict=True)]
        )
        questions.append(f"What is {expr}?")
        answers.append(str(_evaluate(numbers, chosen)))
        rows.append((numbers, chosen))
    ex_numbers, ex_ops = rows[-1]
    if "*" in ex_ops:
        example_solution = f"The answer is {answers[-1]}."
    else:
        example_solution = _solution(ex_numbers, ex_ops)
    return Task(
        name="arithmetic",
        questions=tuple(questions[:-1]),
        answers=tuple(answers[:-1]),
        example=(questions[-1], example_solution),
    )


def compare(num_questions: int = 256, seed: int = 0, *, max_value: int = 100) -> Task:
    """Number comparison: "Which is larger, 47 or 52?" -> "52" (two distinct integers)."""
    num_questions = check_count(num_questions, "num_questions")
    max_value = check_count(max_value, "max_value", minimum=2)
    draws, example_row = _draws(seed, num_questions, 2)  # the last row is the worked example
    questions, answers = [], []
    for a, b in [*draws, example_row]:
        x = int(a) % max_value + 1
        y = int(b) % (max_value - 1) + 1
        y = y + 1 if y >= x else y  # distinct from x
        questions.append(f"Which number is larger, {x} or {y}?")
        answers.append(str(max(x, y)))
    return Task(
        name="compare",
        questions=tuple(questions[:-1]),
        answers=tuple(answers[:-1]),
        example=(questions[-1], f"The answer is {answers[-1]}."),
        extract_answer=extract_first_number,
    )


_CONCEPTS = (
    "wumpus", "yumpus", "zumpus", "dumpus", "rompus", "numpus", "tumpus", "vumpus", "impus",
    "jompus", "gorpus", "shumpus", "lempus", "sterpus", "brimpus", "lorpus",
)  # fmt: skip
_NAMES = ("Alex", "Sam", "Max", "Fae", "Rex", "Wren", "Polly", "Stella", "Sally", "Jack")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def logic(num_questions: int = 256, seed: int = 0, *, max_hops: int = 3) -> Task:
    """ProntoQA-like deduction over fictional concepts with a True/False answer.

    A chain of ``1..max_hops`` rules "Every A is a B" (the last possibly negated, "Every A is not
    a B"), shuffled with one distractor rule, a fact "Name is an A", and the query "Name is a Z"
    for the chain's end. The answer is "True" unless the last rule is negated.
    """
    num_questions = check_count(num_questions, "num_questions")
    max_hops = check_count(max_hops, "max_hops")
    if max_hops + 2 > len(_CONCEPTS):
        raise ValueError(f"max_hops must be at most {len(_CONCEPTS) - 2}, got {max_hops}")
    width = len(_CONCEPTS) + 4
    draws, example_row = _draws(seed, num_questions, width)  # the last row: the worked example
    questions, answers, solutions = [], [], []
    for row in [*draws, example_row]:
        row = [int(v) for v in row]
        hops = row[0] % max_hops + 1
        negated = row[1] % 2 == 1
        name = _NAMES[row[2] % len(_NAMES)]
        order = np.argsort(np.asarray(row[4 : 4 + len(_CONCEPTS)]), kind="stable")
        concepts = [_CONCEPTS[i] for i in order]
        chain = concepts[: hops + 1]
        distractor = concepts[hops + 1]
        rules = []
        for i in range(hops):
            a, b = chain[i], chain[i + 1]
            neg = negated and i == hops - 1
            rules.append(f"Every {a} is {'not ' if neg else ''}{_article(b)} {b}.")
        rules.append(f"Every {distractor} is {_article(chain[0])} {chain[0]}.")
        # deterministic shuffle of the rules
        perm = np.argsort(np.asarray(row[4 : 4 + len(rules)]) ^ row[3], kind="stable")
        text = " ".join(rules[i] for i in perm)
        fact = f"{name} is {_article(chain[0])} {chain[0]}."
        target = chain[-1]
        questions.append(f"{text} {fact} True or false: {name} is {_article(target)} {target}.")
        answers.append("False" if negated else "True")
        steps = []
        for i in range(hops):
            b = chain[i + 1]
            if negated and i == hops - 1:
                steps.append(f"{name} is not {_article(b)} {b}.")
            else:
                steps.append(f"{name} is {_article(b)} {b}.")
        solutions.append(" ".join(steps) + f" The answer is {answers[-1]}.")
    return Task(
        name="logic",
        questions=tuple(questions[:-1]),
        answers=tuple(answers[:-1]),
        example=(questions[-1], solutions[-1]),
        extract_answer=extract_true_false,
    )


BUILTIN_TASKS: dict[str, Callable[..., Task]] = {
    "arithmetic": arithmetic,
    "compare": compare,
    "logic": logic,
}


def load_jsonl(
    path: str,
    *,
    question_key: str = "question",
    answer_key: str = "answer",
    name: str | None = None,
    example: tuple[str, str] | None | str = "first",
    template: str = "Question: {question}\nAnswer:",
    stop: tuple[str, ...] = ("\nQuestion:",),
) -> Task:
    """A task from a JSON-lines file of ``{"question": ..., "answer": ...}`` records.

    Gold answers are read with :func:`gold_answer` (GSM8k ``#### 42`` or MATH ``\\boxed{42}``, else
    the whole field); responses are read with :func:`extract_final_answer`.

    Args:
      path: the ``.jsonl`` file.
      question_key, answer_key: the record fields holding question and reference answer/solution.
      name: task name (default: the file's stem).
      example: ``"first"`` uses the first record (its full solution) as the 1-shot example and
        drops it from the questions; a ``(question, solution)`` pair is used as given; None for
        0-shot prompting.
      template: the prompt format.
      stop: decoding stop strings (match them to ``template``).

    Raises:
      ValueError: the file does not exist or cannot be read, or a line is not UTF-8, not JSON,
        not a JSON object, lacks a field, or holds a field that is not a non-empty string (each
        message names the file and the line; blank lines are skipped).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a path to a JSON-lines file, got {type(path).__name__}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"path must be an existing JSON-lines file, got {path!r}")
    for key, what in ((question_key, "question_key"), (answer_key, "answer_key")):
        if not isinstance(key, str) or not key:
            raise TypeError(f"{what} must be a non-empty string, got {key!r}")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise ValueError(f"{path} cannot be read: {err.strerror}") from None
    records = [
        rec
        for line_no, raw in enumerate(data.split(b"\n"), 1)
        if (rec := _jsonl_record(path, line_no, raw, question_key, answer_key)) is not None
    ]
    if example == "first":
        if len(records) < 2:
            raise ValueError(f"{path} needs at least 2 records to use the first as the example")
        example, records = records[0], records[1:]
    elif example is not None and not (isinstance(example, tuple) and len(example) == 2):
        raise ValueError("example must be 'first', None or a (question, solution) pair")
    if not records:
        raise ValueError(f"{path} holds no question/answer records")
    return Task(
        name=name or os.path.splitext(os.path.basename(path))[0],
        questions=tuple(q for q, _ in records),
        answers=tuple(gold_answer(a) for _, a in records),
        template=template,
        example=example,
        stop=tuple(stop),
    )


def _jsonl_record(
    path: str, line_no: int, raw: bytes, question_key: str, answer_key: str
) -> tuple[str, str] | None:
    """One line of a JSON-lines task file as ``(question, answer)``; None for a blank line.

    Lines are split on ``\\n`` bytes only and decoded one by one, so a byte sequence that is
    not UTF-8 is reported with its line (a UTF-8 byte-order mark on the first line is allowed).
    """
    where = f"{path}, line {line_no}"
    if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{where}: not UTF-8 text ({err.reason} at byte {err.start} of the line)"
        ) from None
    if not line.strip():
        return None
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(rec, dict):
        raise ValueError(
            f"{where}: must be a JSON object with string fields {question_key!r} and "
            f"{answer_key!r}, got a JSON {_json_kind(rec)}"
        )
    missing = [k for k in (question_key, answer_key) if k not in rec]
    if missing:
        raise ValueError(
            f"{where}: lacks the field(s) {', '.join(map(repr, missing))} (a record is "
            f"{{{question_key!r}: ..., {answer_key!r}: ...}})"
        )
    for key in (question_key, answer_key):
        value = rec[key]
        if not isinstance(value, str):
            raise ValueError(
                f"{where}: field {key!r} must be a string, got a JSON {_json_kind(value)} "
                f"({json.dumps(value)[:40]}); quote it"
            )
        if not value.strip():
            raise ValueError(f"{where}: field {key!r} is empty")
    return rec[question_key], rec[answer_key]


def _json_kind(value: object) -> str:
    """The JSON type name of a decoded value (for error messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def get_task(name_or_path: str, num_questions: int | None = None, seed: int = 0) -> Task:
    """A built-in task by name (``arithmetic``, ``compare``, ``logic``) or a ``.jsonl`` file.

    Args:
      num_questions: how many questions (built-ins generate exactly this many, default 256; a
        file is cut to its first ``num_questions``).
      seed: generation seed of built-in tasks.
    """
    if not isinstance(name_or_path, str) or not name_or_path:
        raise TypeError(
            f"task must be one of {sorted(BUILTIN_TASKS)} or a .jsonl file, got {name_or_path!r}"
        )
    if name_or_path in BUILTIN_TASKS:
        return BUILTIN_TASKS[name_or_path](256 if num_questions is None else num_questions, seed)
    if name_or_path.endswith(".jsonl") or os.path.isfile(name_or_path):
        task = load_jsonl(name_or_path)
        if num_questions is not None:
            task = subset(task, min(num_questions, len(task)))
        return task
    raise ValueError(
        f"task must be one of {sorted(BUILTIN_TASKS)} or a .jsonl file, got {name_or_path!r}"
    )
