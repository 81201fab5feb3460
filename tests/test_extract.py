"""Answer extraction: GSM8K numbers and commonsense answer words on hard strings."""

from decimal import Decimal

import pytest

from tasks.extract import VOCAB, choice_complete, extract_choice, extract_number, gold_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("So the total is 1,234 apples.", "1234"),
        ("The temperature fell to -5 degrees.", "-5"),
        ("Each costs 3.50 dollars", "3.5"),
        ("She paid $12.", "12"),
        ("He has 3 cats, then 4 more, so 7 cats in all.", "7"),
        ("10 + 20 = 30 and 30 * 2 = 60\n#### 7\nThen 99 more.", "7"),
        ("First 5, then 6.\nThe final answer is:  42\nNext question: 13", "42"),
        ("10-3 = 7", "7"),  # a minus between operands is not a sign
        ("It costs -$5 after the refund", "-5"),
        ("$1,234.50 in total", "1234.5"),
        ("1,000,000 people", "1000000"),
        ("3,4,5", "5"),  # a list, not a thousands group
        ("#### nothing here but 8 later", "8"),  # a marker with no number falls back
    ],
)
def test_numbers_are_extracted_exactly(text, expected):
    assert extract_number(text) == Decimal(expected)


def test_no_number_at_all():
    assert extract_number("I do not know the answer.") is None
    assert extract_number("") is None


def test_equal_values_in_different_spellings_match():
    assert extract_number("$3.50") == extract_number("3.5") == Decimal("3.5")
    assert gold_number("He buys 2.\n#### 1,234") == extract_number("1234")


def test_gold_needs_its_marker():
    with pytest.raises(ValueError, match="####"):
        gold_number("the answer is 5")


@pytest.mark.parametrize(
    ("subset", "text", "expected"),
    [
        ("boolq", "the correct answer is true", "true"),
        ("boolq", "The correct answer is FALSE.", "false"),
        ("boolq", "That is untrue; the correct answer is false", "false"),
        ("piqa", "the correct answer is solution2", "solution2"),
        ("piqa", "Solution1!", "solution1"),
        ("siqa", "the correct answer is answer3", "answer3"),
        ("siqa", "answer1 looks wrong, but the correct answer is answer2.", "answer2"),
        ("hellaswag", "the correct answer is Ending4,", "ending4"),
        ("winogrande", "the correct answer is option2", "option2"),
        ("arc_easy", "the correct answer is answer4", "answer4"),
        ("arc_challenge", "The correct answer is answer5?", "answer5"),
        ("openbookqa", "the correct answer is answer1\n\n### Instruction:", "answer1"),
        ("siqa", "the correct answer is answer12", ""),  # not a word of the vocabulary
        ("piqa", "the correct answer is answer1", ""),  # another set's word
        ("winogrande", "asdf qwer 1234 !!", ""),
        ("boolq", "", ""),
        ("hellaswag", "the correct answer is", ""),
    ],
)
def test_commonsense_answer_words(subset, text, expected):
    assert extract_choice(text, subset) == expected


def test_every_vocabulary_word_is_found_in_the_training_phrase():
    for subset, words in VOCAB.items():
        for word in words:
            assert extract_choice(f"the correct answer is {word.upper()}.", subset) == word


def test_choice_is_complete_only_once_the_word_has_ended():
    assert not choice_complete("the correct answer is answ", "siqa")
    assert not choice_complete("the correct answer is answer1", "siqa")  # may go on
    assert choice_complete("the correct answer is answer1.", "siqa")
    assert not choice_complete("answer1 is it", "siqa")  # no phrase: keep reading


def test_unknown_set_is_an_error():
    with pytest.raises(ValueError, match="allowed"):
        extract_choice("true", "mmlu")
