// Package badge draws and serves SVG badges of a service's status, uptime
// and latency, for READMEs and wikis. A badge is an image a page on any
// site may embed, so it shows only what the service's public visibility
// allows (see Handler) and is cacheable for a short while.
package badge

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"unicode/utf8"
)

// Colours of the message half, by meaning.
const (
	ColorUp      = "#2e9e4f"
	ColorWarn    = "#dfb317"
	ColorDown    = "#d73a2c"
	ColorUnknown = "#9f9f9f"
	ColorPaused  = "#a47b12"
	colorLabel   = "#555"
)

// maxText bounds what a badge draws of any text, in runes.
const maxText = 64

// charWidth approximates Verdana 11px, the badge font, without shipping
// font metrics; badges of the same texts always come out the same size.
const charWidth = 7

// Badge is one label/message pair with the message's colour and a title
// for screen readers and tooltips.
type Badge struct {
	Label, Message, Color, Title string
}

// SVG renders b. Every text is XML-escaped and bounded, and the colour is
// one of this package's constants, so nothing a caller passes can inject
// markup.
func (b Badge) SVG() []byte {
	label, msg, title := clip(b.Label), clip(b.Message), clip(b.Title)
	lw := utf8.RuneCountInString(label)*charWidth + 10
	mw := utf8.RuneCountInString(msg)*charWidth + 10
	w := lw + mw
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20" role="img" aria-label="%s: %s">`,
		w, esc(label), esc(msg))
	fmt.Fprintf(&buf, `<title>%s</title>`, esc(title))
	fmt.Fprintf(&buf, `<rect width="%d" height="20" rx="3" fill="%s"/>`, lw, colorLabel)
	fmt.Fprintf(&buf, `<rect x="%d" width="%d" height="20" rx="3" fill="%s"/>`, lw, mw, safeColor(b.Color))
	fmt.Fprintf(&buf, `<rect x="%d" width="4" height="20" fill="%s"/>`, lw, safeColor(b.Color))
	buf.WriteString(`<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">`)
	fmt.Fprintf(&buf, `<text x="%d" y="14">%s</text>`, lw/2, esc(label))
	fmt.Fprintf(&buf, `<text x="%d" y="14">%s</text>`, lw+mw/2, esc(msg))
	buf.WriteString(`</g></svg>`)
	return buf.Bytes()
}

func clip(s string) string {
	if utf8.RuneCountInString(s) <= maxText {
		return s
	}
	return string([]rune(s)[:maxText-1]) + "…"
}

func esc(s string) string {
	var buf bytes.Buffer
	_ = xml.EscapeText(&buf, []byte(s)) // writes to a bytes.Buffer cannot fail
	return buf.String()
}

// safeColor lets only this package's colours through.
func safeColor(c string) string {
	switch c {
	case ColorUp, ColorWarn, ColorDown, ColorUnknown, ColorPaused:
		return c
	}
	return ColorUnknown
}
