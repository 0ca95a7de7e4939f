// Package browser holds Vigil's real-browser tests: Debian's headless
// Chromium, driven from Go with chromedp, against a running Vigil (server
// and worker on the real PostgreSQL and RabbitMQ). The package has no code
// of its own; everything is in the _test files.
//
// The tests need /usr/bin/chromium (or $VIGIL_TEST_CHROMIUM) and fail,
// never skip, without it: run hack/install-chromium.sh or
// `apt-get install -y chromium`. Screenshots land in testdata/artifacts/
// at the repository root.
package browser
