# Eventual consistency (docs/data.md): the crash tests that restart services run in their own tier.
.PHONY: test-consistency

test-consistency: codegen ## The read models under crashes, on the real broker (kills and restarts services; not in make test)
	CONSISTENCY_TESTS=1 $(PYTHON) -m pytest tests/integration/test_consistency.py $(PYTEST_ARGS)
