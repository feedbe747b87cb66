"""Records written straight into the records DB and a warehouse folder, for tests and benchmarks of one stage
without running the stages before it: ``inspection`` (first-inspection passes), ``train`` (inspected items)."""
