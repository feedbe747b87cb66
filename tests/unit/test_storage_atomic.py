"""LocalStorage's atomic writes: a writer killed before its rename leaves a temporary file that the next write of
the same key removes (once stale), and listings never show temporary files."""

import os
import time

from trainset.storage import LocalStorage


def test_stale_temporary_file_of_a_killed_writer_is_swept(tmp_path):
    store = LocalStorage(tmp_path)
    store.write_bytes("person/a.jpg", b"one")
    folder = tmp_path / "person"
    stale = folder / ".tmp-a.jpg.dead1234"  # what a SIGKILLed writer leaves
    stale.write_bytes(b"half")
    old = time.time() - LocalStorage.STALE_TMP_SECONDS - 5
    os.utime(stale, (old, old))
    fresh = folder / ".tmp-a.jpg.live5678"  # a writer still at work: left alone
    fresh.write_bytes(b"growing")
    other = folder / ".tmp-b.jpg.dead9999"  # another key's leftover: not this write's business
    other.write_bytes(b"x")
    os.utime(other, (old, old))
    store.write_bytes("person/a.jpg", b"two")
    assert store.read_bytes("person/a.jpg") == b"two"
    assert not stale.exists() and fresh.exists() and other.exists()
    assert [e.key for e in store.list("person")] == ["person/a.jpg"]
