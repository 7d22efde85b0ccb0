"""Tasks: deterministic generation, answer extraction and checking, the JSONL loader."""

import json
import re

import numpy as np
import pytest

pytest.importorskip("torch")

from paper_figs.real_models.bon import check_task  # noqa: E402
from simulators.hf import (  # noqa: E402
    Task,
    answers_match,
    arithmetic,
    compare,
    extract_final_answer,
    extract_true_false,
    get_task,
    gold_answer,
    grade,
    load_jsonl,
    logic,
    normalize_answer,
    subset,
    task_prompts,
)
from simulators.hf._tasks import _evaluate  # noqa: E402


def brute_value(question: str) -> int:
    expr = re.fullmatch(r"What is (.*)\?", question).group(1)
    assert re.fullmatch(r"[\d +\-*]+", expr)
    return int(eval(expr))  # the expression only holds digits and + - *


@pytest.mark.parametrize("ops", ["+", "+-", "+-*"])
def test_arithmetic_answers_are_exact_and_seeded(ops):
    task = arithmetic(50, seed=3, num_steps=3, ops=ops)
    assert len(task) == 50
    for q, a in zip(task.questions, task.answers, strict=True):
        assert int(a) == brute_value(q)
    assert arithmetic(50, seed=3, num_steps=3, ops=ops) == task
    assert arithmetic(50, seed=4, num_steps=3, ops=ops).questions != task.questions
    # the worked example's own answer is extracted from its solution
    q, solution = task.example
    assert int(extract_final_answer(solution)) == brute_value(q)


def test_operator_precedence():
    assert _evaluate([2, 3, 4], ["+", "*"]) == 14
    assert _evaluate([2, 3, 4, 5], ["*", "-", "*"]) == -14


def test_compare_and_logic_answers():
    task = compare(40, seed=1)
    for q, a in zip(task.questions, task.answers, strict=True):
        x, y = map(int, re.findall(r"\d+", q))
        assert x != y and int(a) == max(x, y)
    assert task.extract_answer("17 is larger than 67.") == "17"  # first number: what was claimed
    task = logic(60, seed=2, max_hops=3)
    assert set(task.answers) == {"True", "False"}
    for q, a in zip(task.questions, task.answers, strict=True):
        negated = " is not " in q
        assert (a == "False") == negated
    q, solution = task.example
    assert extract_true_false(solution) == ("false" if " is not " in q else "true")


def test_extraction_and_normalization():
    assert gold_answer("She pays 3 * 4 = 12.\n#### 1,234") == "1,234"
    assert normalize_answer("1,234") == "1234"
    assert gold_answer("so \\boxed{\\frac{1}{2}} in total") == "\\frac{1}{2}"
    assert answers_match("\\frac{1}{2}", "0.5") and answers_match("1/2", "\\frac{1}{2}")
    assert extract_final_answer("We get 3 then 5. The answer is $42$.") == "42"
    assert extract_final_answer("first \\boxed{7} then \\boxed{x^{2}}") == "x^{2}"
    assert extract_final_answer("1 + 2 = 3, so 3 + 4 = 7") == "7"
    assert extract_final_answer("no digits here") is None
    assert extract_final_answer("a power of 17, so") == "17"  # punctuation is not part of it
    assert normalize_answer(extract_final_answer("total 1,234,567 dollars")) == "1234567"
    assert extract_true_false("Hmm. The answer is: False. Although true") == "false"
    assert extract_true_false("I think it is TRUE") == "true"
    assert answers_match("42.0", "42") and not answers_match(None, "42")
    assert not answers_match("41", "42") and answers_match("Paris.", "paris")


def test_grade_codes_answers_per_prompt():
    task = Task(name="t", questions=("a", "b"), answers=("4", "7"))
    texts = [["The answer is 4.", "it is 5", "nothing", "4.0"], ["7", "7", "8", "x"]]
    answers, correct, extracted = grade(task, texts)
    np.testing.assert_array_equal(answers, [[0, 1, -1, 0], [0, 0, 1, -1]])
    np.testing.assert_array_equal(correct, [[True, False, False, True], [True, True, False, False]])
    assert extracted[0][2] is None


def test_prompts_contain_the_example_once_and_the_question_last():
    task = arithmetic(3, seed=0)
    prompts = task_prompts(task)
    ex_q, _ = task.example
    for p, q in zip(prompts, task.questions, strict=True):
        assert p.count(ex_q) == 1 and p.endswith(f"Question: {q}\nAnswer:")


def test_load_jsonl_gsm8k_and_math_styles(tmp_path):
    path = tmp_path / "mini.jsonl"
    records = [
        {"question": "1+1?", "answer": "1+1=2\n#### 2"},
        {"question": "2+3?", "answer": "#### 5"},
        {"question": "half?", "answer": "It is \\boxed{\\frac{1}{2}}."},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    task = load_jsonl(str(path))
    assert task.name == "mini" and task.questions == ("2+3?", "half?")
    assert task.answers == ("5", "\\frac{1}{2}")
    assert task.example == ("1+1?", "1+1=2\n#### 2")
    assert task.is_correct(task.extract_answer("so #### 5"), task.answers[0])
    assert task.is_correct(task.extract_answer("\\boxed{0.5}"), task.answers[1])
    assert len(get_task(str(path), 1)) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": 1}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl, line 1: lacks the field\(s\) .question."):
        load_jsonl(str(bad), example=None)


def test_bad_input():
    with pytest.raises(ValueError, match="task must be one of"):
        get_task("no-such-task")
    with pytest.raises(ValueError, match="same length"):
        Task(name="x", questions=("a",), answers=())
    with pytest.raises(ValueError, match="question"):
        Task(name="x", questions=("a",), answers=("b",), template="no field")
    with pytest.raises(ValueError, match="ops"):
        arithmetic(3, ops="/")
    with pytest.raises(ValueError, match="exceeds"):
        subset(arithmetic(3), 4)
    with pytest.raises(TypeError, match="num_questions"):
        arithmetic(2.5)


@pytest.mark.parametrize("make", [arithmetic, compare, logic])
def test_the_worked_example_and_first_questions_do_not_depend_on_num_questions(make):
    small, large = make(4, seed=5), make(8, seed=5)
    assert small.example == large.example
    assert small.questions == large.questions[:4] and small.answers == large.answers[:4]
    assert task_prompts(small) == task_prompts(large)[:4]
    assert small.example[0] not in large.questions  # the example is not one of the questions
    assert make(4, seed=6).example != small.example  # but it does depend on the seed


GOOD = b'{"question": "1+1?", "answer": "#### 2"}\n{"question": "2+2?", "answer": "#### 4"}\n'


OBJECT = "must be a JSON object with string fields 'question' and 'answer', got a JSON"
FIELD = "must be a string, got a JSON"


@pytest.mark.parametrize(
    "line, message",
    [
        (b'["1+1?", "2"]', f"{OBJECT} array"),
        (b"42", f"{OBJECT} number"),
        (b'"a question"', f"{OBJECT} string"),
        (b"null", f"{OBJECT} null"),
        (b'{"question": "3+3?", "answer": 6}', f"field 'answer' {FIELD} number"),
        (b'{"question": ["3?"], "answer": "6"}', f"field 'question' {FIELD} array"),
        (b'{"question": null, "answer": "6"}', f"field 'question' {FIELD} null"),
        (b'{"question": "3+3?", "answer": NaN}', f"field 'answer' {FIELD} num"),
        (b'{"question": "  ", "answer": "6"}', "field 'question' is empty"),
        (b'{"question": "3+3?"}', "lacks the field\\(s\\) 'answer'"),
        (b'{"question": "3+3?", "answer": "6"', "not valid JSON"),
        (b'{"question": "caf\xe9?", "answer": "6"}',
         "not UTF-8 text \\(invalid continuation byte at byte 17 "),
        (b"\xff\xfe{}", "not UTF-8 text"),
    ],
)  # fmt: skip
def test_a_bad_jsonl_line_is_named_by_file_and_line(tmp_path, line, message):
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(GOOD + b"\n" + line + b"\n")  # the blank line 3 is skipped, but counted
    with pytest.raises(ValueError, match=f"tasks.jsonl, line 4: {message}"):
        load_jsonl(str(path))
    with pytest.raises(ValueError, match=f"--task: .*tasks.jsonl, line 4: {message}"):
        check_task(str(path), 1, 0)


def test_jsonl_with_a_byte_order_mark_and_windows_line_ends_is_read(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf" + GOOD.replace(b"\n", b"\r\n") + b'{"question": "{x}?", "answer": "#### 5"}'
    )
    task = load_jsonl(str(path))
    assert task.example == ("1+1?", "#### 2") and task.questions == ("2+2?", "{x}?")
    assert task.answers == ("4", "5")
    assert task_prompts(task)[1].endswith("Question: {x}?\nAnswer:")  # braces are not a format
