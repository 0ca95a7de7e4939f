package check

import (
	"fmt"
	"slices"
)

// DefaultRegion is the region of a worker that names none and of every
// result of a check that lists no regions. Its jobs travel on the jobs
// queue every release has used, so a single-location installation keeps
// its topology as it was.
const DefaultRegion = "default"

// Bounds of a check's regions. A region name becomes part of a queue name
// and of a routing key, so it is kept to a DNS label: lowercase letters,
// digits and '-', starting and ending with a letter or digit.
const (
	MaxRegions        = 16
	MaxRegionLength   = 63
	regionsField      = "regions"
	quorumField       = "quorum"
	regionNameMessage = "must be a lowercase DNS label (a-z, 0-9 and '-', starting and ending with a letter or digit, at most 63 characters)"
)

// IsRegionName reports whether s can name a region.
func IsRegionName(s string) bool {
	if s == "" || len(s) > MaxRegionLength {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

// DefaultQuorum is the quorum of n listed regions when none is given: a
// majority, so that one region's own network trouble never pages alone
// once a check is probed from three places.
func DefaultQuorum(n int) int {
	if n == 0 {
		return 0
	}
	return n/2 + 1
}

// MultiRegion reports whether c is probed from the regions it lists rather
// than from the default region alone.
func (c *Check) MultiRegion() bool { return len(c.Regions) > 0 }

// ValidateRegions is the rule of a check's regions and quorum: at most
// MaxRegions distinct region names, and a quorum between 1 and the number
// of regions (0 only when there are none).
func ValidateRegions(regions []string, quorum int) error {
	if len(regions) > MaxRegions {
		return fieldErr(regionsField, "must list at most %d regions", MaxRegions)
	}
	for i, r := range regions {
		field := fmt.Sprintf("%s[%d]", regionsField, i)
		if !IsRegionName(r) {
			return fieldErr(field, regionNameMessage)
		}
		if slices.Contains(regions[:i], r) {
			return fieldErr(field, "repeats region %q", r)
		}
	}
	switch {
	case len(regions) == 0 && quorum != 0:
		return fieldErr(quorumField, "applies only to a check that lists regions")
	case len(regions) > 0 && (quorum < 1 || quorum > len(regions)):
		return fieldErr(quorumField, "must be between 1 and the number of regions (%d)", len(regions))
	}
	return nil
}
