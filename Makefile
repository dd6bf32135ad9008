.PHONY: demo test
# The whole loop on embedded defaults: SQLite, the bundled local model, examples/acme.
demo:
	scripts/demo
# Format, lint and run every test.
test:
	scripts/test
