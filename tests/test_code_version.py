"""The code version behind prepared-model numbers: guarded by a record of its sources' sums."""

import shutil

from methods.qlora import QLoRA
from suite import code_version as cv
from suite.quant.nf import NFQuantizer


def test_the_record_matches_the_sources():
    found = cv.problems(cv.read_record(), cv.sources())
    assert not found, (
        "the sources behind prepared-model numbers changed since suite/numbers.sha256 was "
        "written:\n" + "\n".join(found)
    )


def test_a_changed_source_names_the_version_to_bump():
    record = cv.read_record()
    current = dict(cv.sources())
    current["methods/qlora.py"] = "0" * 64
    current["suite/quant/nf.py"] = "1" * 64
    found = cv.problems(record, current)
    assert len(found) == 2
    assert "methods/qlora.py changed" in found[0] and "method qlora" in found[0]
    assert "suite/quant/nf.py changed" in found[1] and "quantizer nf" in found[1]


def test_recording_refuses_a_change_whose_version_did_not_move(tmp_path, monkeypatch):
    for entry in cv.SOURCES:
        src, dst = cv.ROOT / entry, tmp_path / entry
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(src, dst)
    record = tmp_path / "numbers.sha256"
    assert cv.record(tmp_path, record)[1] == []
    with open(tmp_path / "methods/qlora.py", "a") as f:
        f.write("\n# a change\n")
    entries, refused = cv.record(tmp_path, record)
    assert refused == ["methods/qlora.py changed but method:qlora is still version 1"]
    assert cv.read_record(record)["methods/qlora.py"].sha256 != entries["methods/qlora.py"].sha256
    assert cv.record(tmp_path, record, same_numbers=True)[1] == []
    with open(tmp_path / "methods/qlora.py", "a") as f:
        f.write("\n# another change\n")
    monkeypatch.setattr(QLoRA, "version", "2")
    assert cv.record(tmp_path, record)[1] == []
    assert cv.read_record(record)["methods/qlora.py"].version == "2"


def test_a_bumped_version_is_a_new_code_version(monkeypatch):
    before = cv.numbers_version("qlora", "nf")
    monkeypatch.setattr(NFQuantizer, "version", "7")
    assert cv.numbers_version("qlora", "nf") == before.replace("nf=1", "nf=7")
    assert cv.numbers_version("lora16", "none") == "lora16=1;harness=1"
