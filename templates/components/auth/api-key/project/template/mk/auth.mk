# API keys (docs/auth.md): the keys file is API_KEYS_FILE, else $(DEV_WORKDIR)/api-keys.json of
# `make dev` (DEV_WORKDIR defaults to .dev, as for make dev).
.PHONY: api-key api-key-revoke api-keys

api-key: ## Create an API key, shown once (make api-key ROLE=writer OWNER=alice [DAYS=90])
	@test -n "$(OWNER)" || { echo "usage: make api-key ROLE=writer OWNER=alice [DAYS=90]" >&2; exit 2; }
	@$(PYTHON) scripts/api_key.py create --role $(ROLE) --owner "$(OWNER)" --days $(or $(DAYS),90)

api-key-revoke: ## Revoke an API key (make api-key-revoke ID=<key id>)
	@test -n "$(ID)" || { echo "usage: make api-key-revoke ID=<key id>" >&2; exit 2; }
	@$(PYTHON) scripts/api_key.py revoke "$(ID)"

api-keys: ## List the API keys (ids, owners, roles, expiry; never a secret)
	@$(PYTHON) scripts/api_key.py list
