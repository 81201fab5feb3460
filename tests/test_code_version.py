"""The code version behind prepared-model numbers: guarded by a record of its sources' sums."""

import shutil

from methods.lora16 import LoRA16
from methods.qlora import QLoRA
from suite import code_version as cv
from suite.quant.gptq import GPTQQuantizer
from suite.quant.magr import MagRGPTQQuantizer
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


def _copy_sources(root):
    for entry in cv.SOURCES:
        src, dst = cv.ROOT / entry, root / entry
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(src, dst)


def test_recording_refuses_a_change_whose_version_did_not_move(tmp_path, monkeypatch):
    _copy_sources(tmp_path)
    record = tmp_path / "numbers.sha256"
    assert cv.record(tmp_path, record)[1] == []
    with open(tmp_path / "methods/qlora.py", "a") as f:
        f.write("\n# a change\n")
    entries, refused = cv.record(tmp_path, record)
    version = QLoRA.version
    assert refused == [f"methods/qlora.py changed but method:qlora is still version {version}"]
    assert cv.read_record(record)["methods/qlora.py"].sha256 != entries["methods/qlora.py"].sha256
    assert cv.record(tmp_path, record, same_numbers=True)[1] == []
    with open(tmp_path / "methods/qlora.py", "a") as f:
        f.write("\n# another change\n")
    bumped = str(int(version) + 1)
    monkeypatch.setattr(QLoRA, "version", bumped)
    assert cv.record(tmp_path, record)[1] == []
    assert cv.read_record(record)["methods/qlora.py"].version == bumped


def test_a_bumped_version_is_a_new_code_version(monkeypatch):
    before, nf = cv.numbers_version("qlora", "nf"), NFQuantizer.version
    assert before == f"qlora={QLoRA.version};nf={nf};harness={cv.HARNESS}"
    monkeypatch.setattr(NFQuantizer, "version", "7")
    assert cv.numbers_version("qlora", "nf") == before.replace(f"nf={nf}", "nf=7")
    assert cv.numbers_version("lora16", "none") == f"lora16={LoRA16.version};harness={cv.HARNESS}"


def test_a_quantizer_carries_the_versions_it_builds_on(monkeypatch):
    # magr-gptq runs GPTQ: a new GPTQ version is a new code version of cloq's base too
    before = cv.numbers_version("cloq", "magr-gptq")
    assert f"magr-gptq={MagRGPTQQuantizer.version};gptq={GPTQQuantizer.version}" in before
    monkeypatch.setattr(GPTQQuantizer, "version", "9")
    assert cv.numbers_version("cloq", "magr-gptq") != before
    assert "gptq=9" in cv.numbers_version("cloq", "magr-gptq")


def test_a_file_that_changes_owner_is_versioned_by_its_new_owner(tmp_path, monkeypatch):
    # harness code that becomes a new quantizer's module: the new owner's version, whatever its
    # value, is new to every cache key, so the change is recorded, not refused
    _copy_sources(tmp_path)
    record = tmp_path / "numbers.sha256"
    assert cv.record(tmp_path, record)[1] == []
    with open(tmp_path / "methods/layerwise.py", "a") as f:
        f.write("\n# now qlora's\n")
    owner = cv.owner
    monkeypatch.setattr(
        cv, "owner", lambda path: "method:qlora" if path == "methods/layerwise.py" else owner(path)
    )
    monkeypatch.setattr(QLoRA, "version", cv.HARNESS)  # the same version string as before
    assert cv.record(tmp_path, record)[1] == []
    assert cv.read_record(record)["methods/layerwise.py"].owner == "method:qlora"
