package chart

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDependencyAnalysis checks the analysis on small templates, one way
// a value can reach a template's output at a time.
func TestDependencyAnalysis(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]string
		want      []string // value paths of templates/a.yaml
		mutations int
	}{
		{"field chain", map[string]string{"a.yaml": `{{ .Values.x.y }}`}, []string{"x.y"}, 0},
		{"root variable", map[string]string{"a.yaml": `{{ $.Values.x }}`}, []string{"x"}, 0},
		{"alias", map[string]string{"a.yaml": `{{ $m := .Values.m }}{{ if $m.on }}{{ $m.name }}{{ end }}`}, []string{"m.name", "m.on"}, 0},
		{"alias used whole", map[string]string{"a.yaml": `{{ $m := .Values.m }}{{ toYaml $m }}`}, []string{"m"}, 0},
		{"reassigned is no alias", map[string]string{"a.yaml": `{{ $m := .Values.m }}{{ $m = .Values.n }}{{ $m.x }}`}, []string{"m", "n"}, 0},
		{"with rebinds dot", map[string]string{"a.yaml": `{{ with .Values.i }}{{ .host }}{{ end }}`}, []string{"i"}, 0},
		{"range variable", map[string]string{"a.yaml": `{{ range $k, $v := .Values.l }}{{ $v.x }}{{ end }}`}, []string{"l"}, 0},
		{"passed in a dict", map[string]string{
			"a.yaml":       `{{ include "h" (dict "root" . "values" .Values.server) }}`,
			"_helpers.tpl": `{{ define "h" }}{{ .values.replicas }}{{ .root.Values.image.tag }}{{ end }}`,
		}, []string{"image.tag", "server"}, 0},
		{"transitive include and template", map[string]string{
			"a.yaml":       `{{ include "h1" . }}`,
			"_helpers.tpl": `{{ define "h1" }}{{ template "h2" . }}{{ end }}{{ define "h2" }}{{ .Values.deep }}{{ end }}`,
		}, []string{"deep"}, 0},
		{"computed include", map[string]string{
			"a.yaml": `{{ include (print .Template.BasePath "/b.yaml") . | sha256sum }}`,
			"b.yaml": `{{ .Values.secret }}`,
		}, []string{"secret"}, 0},
		{"computed include of anything", map[string]string{
			"a.yaml": `{{ include .Values.name . }}`,
			"b.yaml": `{{ .Values.other }}`,
		}, []string{"name", "other"}, 0},
		{"bare Values", map[string]string{"a.yaml": `{{ toYaml .Values }}`}, []string{""}, 0},
		{"Values by name", map[string]string{"a.yaml": `{{ index . "Values" "x" }}`}, []string{""}, 0},
		{"tpl", map[string]string{"a.yaml": `{{ tpl "{{ .Chart.Name }}" . }}`}, []string{""}, 0},
		{"parenthesised root", map[string]string{"a.yaml": `{{ (.root).Values.x }}`}, []string{"x"}, 0},
		{"mutating a made dict", map[string]string{"a.yaml": `{{ $d := dict }}{{ $_ := set $d "k" .Values.v }}`}, []string{"v"}, 0},
		{"mutating the values", map[string]string{"a.yaml": `{{ $_ := set .Values.x "k" 1 }}`}, []string{"x"}, 1},
		{"mutating an alias", map[string]string{"a.yaml": `{{ $x := .Values.x }}{{ $_ := merge $x (dict "k" 1) }}`}, []string{"x"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := map[string]string{}
			for name, text := range tt.files {
				all["templates/"+name] = text
			}
			parsed, err := parseFiles(all)
			require.NoError(t, err)
			deps := analyzeChart(parsed)
			require.Equal(t, tt.want, deps.paths["templates/a.yaml"])
			require.Len(t, deps.mutations, tt.mutations, deps.mutations)
		})
	}
}

// TestPathsRead: a toggle is read by a template that reads it, anything
// above it, or a part of it.
func TestPathsRead(t *testing.T) {
	require.True(t, pathsRead([]string{"metrics"}, "metrics.podMonitor.enabled"))
	require.True(t, pathsRead([]string{"networkPolicy.server.from.0"}, "networkPolicy.server.from"))
	require.True(t, pathsRead([]string{""}, "anything"))
	require.False(t, pathsRead([]string{"metrics.podMonitor"}, "metrics.prometheusRule.enabled"))
	require.False(t, pathsRead([]string{"auth"}, "authz.on"), "a prefix of the name is not a parent")
}

// TestSourceAlias: the per-template comparison of TestChartEveryCombination
// groups helm's documents by subchart alias and template file.
func TestSourceAlias(t *testing.T) {
	alias, file := sourceAlias("\n# Source: umbrella/charts/c00042/templates/server.yaml\napiVersion: v1\nkind: Service\n")
	require.Equal(t, "c00042", alias)
	require.Equal(t, "templates/server.yaml", file)
	alias, file = sourceAlias("# no source\nkind: X\n")
	require.Empty(t, alias)
	require.Empty(t, file)
}

// TestProjection: a projection keeps the settings of the toggles a
// template reads and puts the others at their defaults, and every
// projection of every combination is in that template's product.
func TestProjection(t *testing.T) {
	dims := dimensions()
	require.Equal(t, combination{0, 2, 0, 1}, project(combination{1, 2, 1, 1}, []int{1, 3})[:4])
	_, byFile := chartDependencies(t, dims)
	plan := map[string]bool{}
	for _, c := range projectionPlan(t, dims, byFile) {
		plan[c.key()] = true
	}
	for _, c := range coveringSet(dims) {
		for file, use := range byFile {
			require.True(t, plan[project(c, use).key()], "%s: projection of %s not planned", file, c.String(dims))
		}
	}
}
