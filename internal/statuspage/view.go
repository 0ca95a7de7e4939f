package statuspage

import (
	"fmt"
	"slices"
	"time"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// Days is how many daily uptime bars a service shows, today included.
const Days = 90

// MaxIncidents is how many recent state changes a page lists.
const MaxIncidents = 20

// ungrouped titles the group of selected services that carry none of the
// page's tags (a Kubernetes page may select by labels alone).
const ungrouped = "Services"

type pageView struct {
	Title     string
	Slug      string
	Overall   string
	Groups    []groupView
	Incidents []incidentView
	Updated   string
	// Since is the newest transition id when the page was read: where its
	// live feed resumes, so no change between render and connect is lost.
	Since int64
	// Assets is the relative path to this package's script and styles.
	Assets string
}

type groupView struct {
	Name     string
	Services []serviceView
}

type serviceView struct {
	ID       string
	Name     string
	State    string
	Uptime   string
	Bars     []barView
	Since    string
	SinceISO string
}

type barView struct {
	Class string
	Title string
}

type incidentView struct {
	Service string
	From    string
	To      string
	At      string
	AtISO   string
}

// data is what a page shows, read from the store.
type data struct {
	page      registry.StatusPage
	services  []registry.Service
	daily     map[string][]registry.DayUptime
	incidents []check.Transition
	since     int64
}

// firstDay is the oldest day the bars show, at midnight UTC.
func firstDay(now time.Time) time.Time {
	today := now.UTC().Truncate(24 * time.Hour)
	return today.AddDate(0, 0, -(Days - 1))
}

func buildView(d data, now time.Time, assets string) pageView {
	v := pageView{Title: d.page.Title, Slug: d.page.Slug, Updated: now.UTC().Format(time.RFC1123), Assets: assets, Since: d.since}
	byID := map[string]serviceView{}
	down := 0
	for _, sv := range d.services {
		byID[sv.ID] = buildService(sv, d.daily[sv.ID], now)
		if sv.State.State == check.StateDown {
			down++
		}
	}
	switch {
	case len(d.services) == 0:
		v.Overall = "No services on this page yet"
	case down == 0:
		v.Overall = "All systems operational"
	default:
		v.Overall = fmt.Sprintf("%d of %d services down", down, len(d.services))
	}
	grouped := map[string]bool{}
	for _, tag := range d.page.Tags {
		g := groupView{Name: tag}
		for _, sv := range d.services {
			if slices.Contains(sv.Tags, tag) {
				g.Services = append(g.Services, byID[sv.ID])
				grouped[sv.ID] = true
			}
		}
		if len(g.Services) > 0 {
			v.Groups = append(v.Groups, g)
		}
	}
	rest := groupView{Name: ungrouped}
	for _, sv := range d.services {
		if !grouped[sv.ID] {
			rest.Services = append(rest.Services, byID[sv.ID])
		}
	}
	if len(rest.Services) > 0 {
		v.Groups = append(v.Groups, rest)
	}
	for _, t := range d.incidents {
		v.Incidents = append(v.Incidents, incidentView{Service: t.Service, From: string(t.From), To: string(t.To),
			At: t.At.UTC().Format("2006-01-02 15:04:05 UTC"), AtISO: t.At.UTC().Format(time.RFC3339)})
	}
	return v
}

func buildService(sv registry.Service, days []registry.DayUptime, now time.Time) serviceView {
	v := serviceView{ID: sv.ID, Name: sv.Name, State: string(sv.State.State)}
	if !sv.State.LastChangeAt.IsZero() {
		v.Since = sv.State.LastChangeAt.UTC().Format("2006-01-02 15:04 UTC")
		v.SinceISO = sv.State.LastChangeAt.UTC().Format(time.RFC3339)
	}
	byDay := map[time.Time]registry.Uptime{}
	var total registry.Uptime
	for _, d := range days {
		byDay[d.Day.UTC()] = d.Uptime
		total.Checks += d.Checks
		total.Failures += d.Failures
	}
	first := firstDay(now)
	for i := range Days {
		day := first.AddDate(0, 0, i)
		v.Bars = append(v.Bars, bar(day, byDay[day]))
	}
	v.Uptime = "no data"
	if total.Checks > 0 {
		v.Uptime = percent(total) + " uptime"
	}
	return v
}

// bar classes a day by its uptime ratio. The thresholds are the usual
// ones of public status pages: a few failed probes in a day already show.
func bar(day time.Time, u registry.Uptime) barView {
	label := day.Format("2006-01-02")
	if u.Checks == 0 {
		return barView{Class: "none", Title: label + ": no data"}
	}
	ratio := float64(u.Checks-u.Failures) / float64(u.Checks)
	class := "down"
	switch {
	case ratio >= 0.999:
		class = "up"
	case ratio >= 0.95:
		class = "partial"
	}
	return barView{Class: class, Title: fmt.Sprintf("%s: %s uptime (%d checks)", label, percent(u), u.Checks)}
}

func percent(u registry.Uptime) string {
	ratio := float64(u.Checks-u.Failures) / float64(u.Checks)
	return fmt.Sprintf("%.2f%%", ratio*100)
}
