package chart

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every combination of the chart's toggles (the full product of
// dimensions(): 2^n·3 settings) is too many to render one by one, but a
// template's output is a function of the values it reads alone. So for
// each template file the test renders the product of only the toggles that
// template can read (deps_test.go finds them by parsing the templates,
// over-approximating), with every other toggle at its default: that
// renders every document each template can produce under the full product.
// The union of those per-template products is the projection plan.
//
// Two sets of whole renderings keep the analysis and the cross-object
// checks honest: a seeded sample of the full product, and rows added to
// it until every setting of every toggle meets every setting of every
// other (all pairs). For each of those, every template's documents must
// equal the ones the plan rendered for its projection (the same settings
// of the toggles it reads, defaults elsewhere): an under-approximated
// dependency fails there.

const (
	// sampleSize full-product combinations check the projection;
	// sampleSeed makes them the same on every run.
	sampleSize = 200
	sampleSeed = 16
	// maxTemplateProduct bounds one template's product: more than this
	// and the template should be split, or its analysis made finer.
	maxTemplateProduct = 1 << 12
)

// chartDependencies parses the chart's templates and maps each file to the
// dimensions it reads.
func chartDependencies(t *testing.T, dims []dimension) (dependencies, map[string][]int) {
	t.Helper()
	trees, err := chartTemplates("templates")
	require.NoError(t, err)
	deps := analyzeChart(trees)
	require.Empty(t, deps.mutations, "a template mutates a value it did not make: the per-template analysis cannot vouch for it")
	return deps, templateDims(deps, dims)
}

// key identifies a combination.
func (c combination) key() string { return fmt.Sprint([]int(c)) }

// project keeps c's settings of the dimensions in keep and puts every
// other at its default.
func project(c combination, keep []int) combination {
	p := make(combination, len(c))
	for _, d := range keep {
		p[d] = c[d]
	}
	return p
}

// product is every combination of the settings of dims in use, with the
// others at their default.
func product(dims []dimension, use []int) []combination {
	all := []combination{make(combination, len(dims))}
	for _, d := range use {
		var next []combination
		for _, c := range all {
			for s := range dims[d].settings {
				n := slices.Clone(c)
				n[d] = s
				next = append(next, n)
			}
		}
		all = next
	}
	return all
}

// projectionPlan is the union of every template's product.
func projectionPlan(t *testing.T, dims []dimension, byFile map[string][]int) []combination {
	t.Helper()
	seen := map[string]bool{}
	var plan []combination
	for _, file := range slices.Sorted(maps.Keys(byFile)) {
		n := 1
		for _, d := range byFile[file] {
			n *= len(dims[d].settings)
		}
		require.LessOrEqual(t, n, maxTemplateProduct, "%s reads %s: split it or refine the analysis", file, dimNames(dims, byFile[file]))
		for _, c := range product(dims, byFile[file]) {
			if !seen[c.key()] {
				seen[c.key()] = true
				plan = append(plan, c)
			}
		}
	}
	return plan
}

func dimNames(dims []dimension, idx []int) string {
	names := make([]string, len(idx))
	for i, d := range idx {
		names[i] = dims[d].name
	}
	return strings.Join(names, ", ")
}

// coveringSet is a seeded sample of the full product, with rows added
// until every pair of settings of two toggles meets.
func coveringSet(dims []dimension) []combination {
	rng := rand.New(rand.NewPCG(sampleSeed, 0))
	var out []combination
	for range sampleSize {
		c := make(combination, len(dims))
		for d := range dims {
			c[d] = rng.IntN(len(dims[d].settings))
		}
		out = append(out, c)
	}
	type pair struct{ d1, s1, d2, s2 int }
	seen := map[pair]bool{}
	mark := func(c combination) {
		for d1, s1 := range c {
			for d2, s2 := range c {
				seen[pair{d1, s1, d2, s2}] = true
			}
		}
	}
	for _, c := range out {
		mark(c)
	}
	for d1 := range dims {
		for d2 := range dims {
			for s1 := range dims[d1].settings {
				for s2 := range dims[d2].settings {
					if d1 != d2 && !seen[pair{d1, s1, d2, s2}] {
						c := make(combination, len(dims))
						c[d1], c[d2] = s1, s2
						out = append(out, c)
						mark(c)
					}
				}
			}
		}
	}
	return out
}

// renderCombinations renders each distinct combination once, comboBatch
// at a time, by key.
func renderCombinations(t *testing.T, dims []dimension, combos []combination) map[string]rendering {
	t.Helper()
	out := map[string]rendering{}
	var todo []combination
	for _, c := range combos {
		if _, ok := out[c.key()]; !ok {
			out[c.key()] = rendering{}
			todo = append(todo, c)
		}
	}
	for start := 0; start < len(todo); start += comboBatch {
		batch := todo[start:min(start+comboBatch, len(todo))]
		vals := make([]map[string]any, len(batch))
		for i, c := range batch {
			vals[i] = c.values(dims)
		}
		for i, r := range renderMany(t, vals) {
			out[batch[i].key()] = r
		}
	}
	return out
}

// projectionMismatches lists every template of every combination in
// combos whose documents differ from those of its projection onto the
// dimensions byFile says it reads.
func projectionMismatches(dims []dimension, byFile map[string][]int, combos []combination, renders map[string]rendering) []string {
	var out []string
	for _, c := range combos {
		whole := renders[c.key()]
		files := slices.Sorted(maps.Keys(byFile))
		for _, file := range files {
			p := project(c, byFile[file])
			projected, ok := renders[p.key()]
			if !ok {
				out = append(out, fmt.Sprintf("%s: projection %s of %s was never rendered", file, p.String(dims), c.String(dims)))
				continue
			}
			if whole.sources[file] != projected.sources[file] {
				out = append(out, fmt.Sprintf("%s renders differently under %s than under its projection %s",
					file, c.String(dims), p.String(dims)))
			}
		}
		for file := range whole.sources {
			if _, ok := byFile[file]; !ok {
				out = append(out, file+" rendered documents the analysis does not know of")
			}
		}
	}
	return out
}

// TestChartEveryCombination renders every document every template of the
// chart can produce under every combination of its toggles (the
// projection plan), applies each distinct one to a real kube-apiserver
// with a server-side dry run, and checks every whole rendering against
// what each toggle's setting promises.
func TestChartEveryCombination(t *testing.T) {
	dims := dimensions()
	_, byFile := chartDependencies(t, dims)
	full := 1
	for _, d := range dims {
		full *= len(d.settings)
	}
	plan := projectionPlan(t, dims, byFile)
	covering := coveringSet(dims)
	requireAllPairs(t, dims, covering)
	// every distinct combination of both, in order
	var all []combination
	seen := map[string]bool{}
	for _, c := range append(slices.Clone(plan), covering...) {
		if !seen[c.key()] {
			seen[c.key()] = true
			all = append(all, c)
		}
	}
	renders := renderCombinations(t, dims, all)
	for _, file := range slices.Sorted(maps.Keys(byFile)) {
		t.Logf("%s reads %d toggles (%s)", file, len(byFile[file]), dimNames(dims, byFile[file]))
	}
	t.Logf("full product %d combinations; projection plan %d renderings; covering set %d; %d rendered",
		full, len(plan), len(covering), len(renders))

	t.Run("projection is exact", func(t *testing.T) {
		for _, m := range projectionMismatches(dims, byFile, covering, renders) {
			t.Error(m)
		}
	})

	t.Run("a missed dependency is caught", func(t *testing.T) {
		// The check above fails when the analysis misses a toggle: drop
		// the monitors from monitoring.yaml's and see it fail.
		crippled := maps.Clone(byFile)
		monitors := slices.IndexFunc(dims, func(d dimension) bool { return d.name == "monitors" })
		require.GreaterOrEqual(t, monitors, 0)
		require.Contains(t, crippled["templates/monitoring.yaml"], monitors)
		crippled["templates/monitoring.yaml"] = slices.DeleteFunc(slices.Clone(crippled["templates/monitoring.yaml"]),
			func(d int) bool { return d == monitors })
		require.NotEmpty(t, projectionMismatches(dims, crippled, covering, renders))
	})

	t.Run("settings", func(t *testing.T) {
		for _, c := range all {
			r := renders[c.key()]
			t.Run(c.String(dims), func(t *testing.T) {
				requireCommon(t, r.rendered)
				for d, s := range c {
					dims[d].settings[s].expect(t, r.rendered)
				}
			})
		}
	})

	distinct := map[string]string{} // document -> a combination that rendered it
	for _, c := range all {
		for _, docs := range renders[c.key()].rendered {
			for _, doc := range docs {
				if _, seen := distinct[string(doc)]; !seen {
					distinct[string(doc)] = c.String(dims)
				}
			}
		}
	}
	t.Logf("%d distinct documents to dry-run", len(distinct))
	api := startAPIServer(t)
	for _, doc := range slices.Sorted(maps.Keys(distinct)) {
		if err := api.dryRunApply(t, []byte(doc)); err != nil {
			t.Errorf("the API server refused an object rendered by %s: %v\n%s", distinct[doc], err, doc)
		}
	}
}
