# The fault suite (issue 6, docs/reliability.md): Vigil under load while its
# processes, its broker and its database are killed and restarted. It starts
# its own PostgreSQL and RabbitMQ (hack/faults/*.sh) on ports below 32768,
# never the shared ones. The top-level Makefile includes this file.

FAULTS_RUN     ?= TestFaults
FAULTS_TIMEOUT ?= 30m

##@ Reliability
.PHONY: test-faults
test-faults: ## Fault suite: kill/restart workers, servers, RabbitMQ, PostgreSQL under load; FAULTS_RUN=TestFaults/<name> for one.
	@dir=$$(mktemp -d /tmp/vigil-faults.XXXXXX); status=0; \
	echo "fault suite: files and process logs in $$dir"; \
	VIGIL_FAULTS_DIR=$$dir VIGIL_FAULTS_REPORT=$$dir/report.md \
		$(GO) test -tags faults -v -count=1 -timeout $(FAULTS_TIMEOUT) -run '$(FAULTS_RUN)' ./test/faults || status=$$?; \
	hack/faults/cleanup.sh $$dir; \
	if [ $$status -eq 0 ]; then rm -rf $$dir; else \
		rm -rf $$dir/vigil $$dir/postgres/data $$dir/rabbitmq/mnesia; \
		echo "fault suite failed; logs kept in $$dir (logs/<scenario>/*.log, postgres/, rabbitmq/log/)" >&2; fi; \
	exit $$status
