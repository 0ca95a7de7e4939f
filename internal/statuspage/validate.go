package statuspage

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/vigil-dev/vigil/internal/check"
)

// Bounds of a page's registered fields.
const (
	// MaxSlugLength is a DNS label's: slugs appear in URLs and, in
	// Kubernetes mode, default to an object's name.
	MaxSlugLength = 63
	// MaxTitleLength bounds the page's heading.
	MaxTitleLength = 200
	// MaxTags is a check's own bound: a page selects by tags a check holds.
	MaxTags = check.MaxTags
)

// Page is the part of a status page its owner registers.
type Page struct {
	Slug   string
	Title  string
	Tags   []string
	Public bool
}

// Validate checks p the way the REST API and the reconciler both must. A
// *check.FieldError names the field. requireTags is false for Kubernetes
// pages, which may select by label selector instead.
func (p *Page) Validate(requireTags bool) error {
	if err := ValidateSlug(p.Slug); err != nil {
		return err
	}
	if err := ValidateTitle(p.Title); err != nil {
		return err
	}
	if requireTags && len(p.Tags) == 0 {
		return &check.FieldError{Field: "tags", Message: "must hold at least one tag: a page shows the services that carry any of them"}
	}
	return check.ValidateTags(p.Tags)
}

// ValidateSlug accepts a DNS label (RFC 1123): 1 to 63 lower-case letters,
// digits and hyphens, starting and ending with a letter or digit. That
// keeps it safe in a URL path without escaping, and lets a StatusPage's
// name be its slug.
func ValidateSlug(slug string) error {
	if slug == "" || len(slug) > MaxSlugLength {
		return &check.FieldError{Field: "slug", Message: fmt.Sprintf("must be 1 to %d characters", MaxSlugLength)}
	}
	for i := range len(slug) {
		c := slug[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' || i == 0 || i == len(slug)-1) {
			return &check.FieldError{Field: "slug",
				Message: "must be a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit"}
		}
	}
	return nil
}

// ValidateTitle accepts non-blank text without control characters of at
// most MaxTitleLength characters.
func ValidateTitle(title string) error {
	switch {
	case strings.TrimSpace(title) == "":
		return &check.FieldError{Field: "title", Message: "must not be empty"}
	case check.HasControl(title):
		return &check.FieldError{Field: "title", Message: "must not contain control characters or invalid UTF-8"}
	case utf8.RuneCountInString(title) > MaxTitleLength:
		return &check.FieldError{Field: "title", Message: fmt.Sprintf("must be at most %d characters", MaxTitleLength)}
	}
	return nil
}
