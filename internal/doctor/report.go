package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

var symbols = map[Status]string{Pass: "✓", Warn: "⚠", Fail: "✗"}

// Line is one check as the doctor prints it: its mark, name and finding,
// then the fix and the widget's error.
func (c Check) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-15s %s", symbols[c.Status], c.Name, c.Detail)
	if c.Fix != "" {
		b.WriteString(". Fix: " + c.Fix)
	}
	if c.Widget != 0 {
		b.WriteString(". The widget reports " + c.Widget.String())
	}
	return b.String()
}

// WriteText prints the report for a person: one line per check, what to
// enter in Omnichannel, and the count.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "chattoken doctor %s\n\n", r.BaseURL)
	counts := map[Status]int{}
	for _, c := range r.Checks {
		b.WriteString(c.Line() + "\n")
		counts[c.Status]++
	}
	fmt.Fprintf(&b, "\nIn Omnichannel's chat authentication settings:\n  Public key URL              %s\n  JavaScript client function  %s\n",
		r.Settings.PublicKeyURL, r.Settings.ClientFunction)
	warnings := "warnings"
	if counts[Warn] == 1 {
		warnings = "warning"
	}
	fmt.Fprintf(&b, "\n%d checks: %d passed, %d %s, %d failed.\n", len(r.Checks), counts[Pass], counts[Warn], warnings, counts[Fail])
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints the report for a script.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}
