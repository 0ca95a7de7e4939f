// Package archtest writes Vigil's layering down as a test: which package
// may import which. The rules live in imports_test.go, next to the reason
// for each; the test reads the real import graph with one `go list` and
// fails naming the import that breaks a rule, so a layer cannot erode one
// convenient import at a time. The package has no code of its own.
package archtest
