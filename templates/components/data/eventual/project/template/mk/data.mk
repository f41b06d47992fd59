# Eventual consistency (docs/data.md): the crash tests that restart services run in their own tier.
.PHONY: test-consistency

test-consistency: codegen ## The read models under crashes, on the real broker (kills and restarts services; not in make test)
	CONSISTENCY_TESTS=1 $(PYTHON) -m pytest tests/integration/test_consistency.py $(PYTEST_ARGS)

.PHONY: backfill
backfill: ## Fill a service's read models from the APIs of the services it references (make backfill SERVICE=orders)
	@test -n "$(SERVICE)" || { echo "usage: make backfill SERVICE=<service that references others>" >&2; exit 2; }
	$(PYTHON) scripts/backfill.py $(SERVICE)
