"""Cache entries carry sha256 sums that catch same-size changes; the hash memo sees any write."""

import hashlib
import os

from suite.checksum import HashMemo, check_entry, publish, seal, staging


def entry(root, files):
    tmp = staging(root / "entry")
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    seal(tmp)
    assert publish(tmp, root / "entry")
    return root / "entry"


def test_a_sealed_entry_passes_and_each_kind_of_damage_is_named(tmp_path):
    path = entry(tmp_path, {"tensors.bin": bytes(range(256)) * 64, "manifest.json": b'{"a": 1}'})
    assert check_entry(path) == []
    data = bytearray((path / "tensors.bin").read_bytes())
    data[1000] ^= 0x01  # one bit, same size
    (path / "tensors.bin").write_bytes(bytes(data))
    assert check_entry(path) == ["tensors.bin: sha256 differs from the one recorded"]
    (path / "tensors.bin").write_bytes(bytes(range(256)) * 32)  # truncated
    (path / "manifest.json").unlink()
    assert check_entry(path) == [
        "manifest.json: missing",
        "tensors.bin: sha256 differs from the one recorded",
    ]
    (path / "SHA256SUMS").write_text("not a sum\n")
    assert check_entry(path) == ["SHA256SUMS missing or unreadable"]


def test_the_second_writer_of_a_key_keeps_the_first_entry(tmp_path):
    first = entry(tmp_path, {"x": b"1"})
    tmp = staging(first)
    (tmp / "x").write_bytes(b"1")
    seal(tmp)
    assert publish(tmp, first) is False
    assert not tmp.exists() and (first / "x").read_bytes() == b"1"


def test_the_hash_memo_reuses_a_sum_until_the_file_is_written(tmp_path):
    memo = HashMemo(tmp_path / "hashes")
    path = tmp_path / "weights.bin"
    path.write_bytes(b"a" * 1000)
    truth = hashlib.sha256(b"a" * 1000).hexdigest()
    assert memo.sha256(path) == truth
    # a memo record is used as long as the file's stat is unchanged: plant a wrong sum in it
    (record,) = (tmp_path / "hashes").iterdir()
    record.write_text(record.read_text().replace(truth, "0" * 64))
    assert memo.sha256(path) == "0" * 64
    stat = path.stat()
    path.write_bytes(b"b" * 1000)  # same size; keep even the modification time
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert memo.sha256(path) == hashlib.sha256(b"b" * 1000).hexdigest()
