"""The GX data context our validations run in (ephemeral; with a Data Docs site and stores on disk when asked),
and GX's logging kept quiet."""

from __future__ import annotations

import logging
import os
from pathlib import Path

# GX logs its own bookkeeping at INFO: importing it registers its public API for its docs and logs ~214
# "Skipping registering function ..." lines (great_expectations._docs_decorators), then metric re-declarations
# and datasource loading.  A task log at INFO would bury our summary under them, so GX's loggers start at
# WARNING (its warnings and errors still show); a level set explicitly by whoever runs us is left alone.
GX_LOG_LEVEL = logging.WARNING
GX_LOGGER = "great_expectations"


def quiet_gx_logging() -> None:
    gx_logger = logging.getLogger(GX_LOGGER)
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(GX_LOG_LEVEL)


quiet_gx_logging()  # before anything imports great_expectations (its import is what logs the most)

DOCS_SITE = "trainset"
DOCS_RESULTS_LIMIT = 100
STORES_SUBDIR = ".gx_stores"


def gx_context(docs_dir: Path | None = None):
    """An ephemeral GX context: in-memory stores for validating; with ``docs_dir``, a filesystem Data Docs site
    there and the validation results and suites kept beside it (``docs_dir/.gx_stores``), so the index lists
    earlier runs and several suites can share one folder (GX deletes pages whose source is gone)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # no usage statistics from a pipeline worker
    quiet_gx_logging()  # again: a logging config applied since our import may have reset the level
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
                               data_docs_sites={}, analytics_enabled=False,
                               progress_bars=ProgressBarsConfig(globally=False))
    if docs_dir is not None:
        config.data_docs_sites = {DOCS_SITE: {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder",
                                   "validation_results_limit": DOCS_RESULTS_LIMIT},
        }}
        stores_root = Path(docs_dir) / STORES_SUBDIR
        stores = dict(config.stores)
        stores[config.validation_results_store_name] = {
            "class_name": "ValidationResultsStore",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(stores_root / "validations")},
        }
        stores[config.expectations_store_name] = {
            "class_name": "ExpectationsStore",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(stores_root / "expectations")},
        }
        config.stores = stores
    return gx.get_context(mode="ephemeral", project_config=config)
