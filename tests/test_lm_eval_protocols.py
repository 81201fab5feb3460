"""The lm-eval protocols score qbench's own data with lm-eval, and their numbers add up."""

import math

import pytest
import torch

from suite.spec import EvalSpec
from tasks.base import parse_source
from tasks.commonsense import SETS, Commonsense
from tasks.gsm8k import GSM8K
from tasks.lm_eval_protocols import detokenize, mc_doc, split_articles
from tasks.wikitext2 import WikiText2, read_lines

pytest.importorskip("lm_eval")
SAMPLE = parse_source("sample")
# chance accuracy of each sample set: the inverse of its number of choices
CHANCE = {
    "boolq": 1 / 2,
    "piqa": 1 / 2,
    "siqa": 1 / 3,
    "hellaswag": 1 / 4,
    "winogrande": 1 / 2,
    "arc_easy": 1 / 4,
    "arc_challenge": 1 / 4,
    "openbookqa": 1 / 4,
}


pytestmark = pytest.mark.usefixtures("one_thread")


def test_detokenizer_matches_lm_eval_on_every_sample_article():
    from lm_eval.tasks.wikitext.preprocess_wikitext import wikitext_detokenizer

    articles = split_articles(read_lines(SAMPLE, "test"))
    assert len(articles) > 10
    for article in articles:
        assert detokenize(article["page"]) == wikitext_detokenizer(article)


def test_articles_partition_the_split():
    lines = read_lines(SAMPLE, "test")
    articles = split_articles(lines)
    titles = [line for line in lines if line.startswith(" = ") and not line.startswith(" = = ")]
    assert len(articles) == len(titles)
    assert "".join(a["page"] for a in articles) == "".join(lines[lines.index(titles[0]) :])


def continuation_loglik(model, tok, context: str, continuation: str) -> float:
    ctx = tok(context).input_ids
    full = tok(context + continuation).input_ids
    with torch.no_grad():
        logp = model(torch.tensor([full])).logits[0].log_softmax(-1)
    return sum(float(logp[i - 1, full[i]]) for i in range(len(ctx), len(full)))


def test_multiple_choice_scores_are_the_models_loglikelihoods(tiny):
    model, tok = tiny
    spec = EvalSpec(protocol="lm-eval-mc", max_items=2, batch_size=4, seq_len=2048)
    result = Commonsense().evaluate(model, tok, spec, SAMPLE)
    assert result.protocol == "lm-eval-mc-first2"
    assert len(result.rows) == 16
    for subset in SETS:
        rows = [r for r in result.rows if r["set"] == subset]
        acc = sum(r["correct"] for r in rows) / len(rows)
        assert result.metrics[f"lm-eval/{subset}/acc"] == pytest.approx(acc)
        for row in rows:
            contexts = row["prompt"] if isinstance(row["prompt"], list) else None
            for i, choice in enumerate(row["choices"]):
                context = contexts[i] if contexts else row["prompt"]
                ours = continuation_loglik(model, tok, context, choice)
                assert row["loglikelihoods"][i] == pytest.approx(ours, abs=1e-3)
            assert row["correct"] == (row["extracted"] == row["gold"])
    accs = [result.metrics[f"lm-eval/{s}/acc"] for s in SETS]
    assert result.metrics["lm-eval/acc_mean"] == pytest.approx(sum(accs) / 8)
    assert not any(k.startswith(("acc", "boolq/")) for k in result.metrics)  # own names only


def test_winogrande_is_scored_by_its_sentence_end():
    row = {"sentence": "Tom helped Ben because _ was kind.", "option1": "Tom", "option2": "Ben"}
    doc = mc_doc("winogrande", {**row, "answer": "2"})
    assert doc["contexts"] == ["Tom helped Ben because Tom", "Tom helped Ben because Ben"]
    assert doc["continuation"] == "was kind." and doc["gold"] == 1


def test_wikitext_perplexities_follow_from_the_per_article_rows(tiny):
    model, tok = tiny
    spec = EvalSpec(protocol="lm-eval-wikitext", max_items=2, seq_len=256, batch_size=2)
    result = WikiText2().evaluate(model, tok, spec, SAMPLE)
    assert result.protocol == "lm-eval-wikitext-256-first2" and len(result.rows) == 2
    ll = sum(r["loglikelihood"] for r in result.rows)
    words = sum(r["words"] for r in result.rows)
    size = sum(r["bytes"] for r in result.rows)
    m = result.metrics
    assert m["lm-eval/word_perplexity"] == pytest.approx(math.exp(-ll / words), rel=1e-6)
    assert m["lm-eval/byte_perplexity"] == pytest.approx(math.exp(-ll / size), rel=1e-6)
    assert m["lm-eval/bits_per_byte"] == pytest.approx(-ll / size / math.log(2), rel=1e-6)
    # a random byte-level model is close to uniform over its 259 tokens: ~8 bits per byte
    assert 6 < m["lm-eval/bits_per_byte"] < 10


def test_gsm8k_five_shot_prompts_and_strict_match(tiny):
    model, tok = tiny
    spec = EvalSpec(protocol="lm-eval-5shot", max_items=2, max_new_tokens=4, seq_len=4096)
    result = GSM8K().evaluate(model, tok, spec, SAMPLE)
    assert result.protocol == "lm-eval-5shot-4tok-first2"
    assert set(result.metrics) == {"lm-eval/exact_match", "lm-eval/exact_match_flexible"}
    assert len(result.rows) == 2
    for row in result.rows:
        assert row["prompt"].count("Question:") == 6 and row["prompt"].endswith("Answer:")
        assert row["prompt"].count("#### ") == 5
        assert row["correct"] == (row["extracted"] == row["gold"])


@pytest.mark.slow
def test_the_built_in_model_is_above_chance_on_the_commonsense_samples(smollm2):
    """Measured (SmolLM2-135M-Instruct, all 24 items of each sample set): mean acc 0.495 against
    a mean chance level of 0.354. The claim tested: at least 0.08 above chance."""
    model, tok = smollm2
    spec = EvalSpec(protocol="lm-eval-mc", batch_size=16, seq_len=1024)
    result = Commonsense().evaluate(model, tok, spec, SAMPLE)
    chance = sum(CHANCE.values()) / len(CHANCE)
    assert result.metrics["lm-eval/acc_mean"] >= chance + 0.08, result.metrics
