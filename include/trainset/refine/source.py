"""Where refine reads an image's bytes from: the configured storage roots, by URI."""

from __future__ import annotations

from trainset.storage import Storage


class SourceReader:
    """Image bytes by URI from the configured roots: a local path when the root is a folder (workers read it
    themselves), the bytes otherwise."""

    def __init__(self, stores: list[Storage]):
        self.stores = sorted(stores, key=lambda s: -len(s.uri))

    def _locate(self, uri: str) -> tuple[Storage, str]:
        for store in self.stores:
            if uri.startswith(store.uri + "/"):
                return store, uri[len(store.uri) + 1:]
        raise ValueError(f"{uri} is under none of the roots {[s.uri for s in self.stores]}")

    def source(self, uri: str) -> str | bytes:
        store, key = self._locate(uri)
        path = store.local_path(key)
        return str(path) if path is not None else store.read_bytes(key)

    def store_and_key(self, uri: str) -> tuple[Storage, str]:
        return self._locate(uri)
