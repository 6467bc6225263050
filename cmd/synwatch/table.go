package main

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// termWidth is the width tables are made to fit: a 120-column terminal.
const termWidth = 120

// table writes rows under a header, columns two spaces apart, the whole no
// wider than width: the columns marked shrinkable give up characters
// (cut with "…"), the last marked first, when the rows would be wider.
type table struct {
	header []string
	shrink []bool // per column
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer, width int) error {
	n := len(t.header)
	ws := make([]int, n)
	for _, r := range append([][]string{t.header}, t.rows...) {
		for i, c := range r {
			ws[i] = max(ws[i], utf8.RuneCountInString(c))
		}
	}
	total := func() int {
		s := 2 * (n - 1)
		for _, x := range ws {
			s += x
		}
		return s
	}
	// shrink the shrinkable columns, the widest first, down to their
	// header's width
	for total() > width {
		best := -1
		for i := range ws {
			if t.shrink[i] && ws[i] > max(utf8.RuneCountInString(t.header[i]), 4) && (best < 0 || ws[i] > ws[best]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		ws[best]--
	}
	var b strings.Builder
	for _, r := range append([][]string{t.header}, t.rows...) {
		b.Reset()
		for i, c := range r {
			c = cut(c, ws[i])
			if i == n-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", ws[i]-utf8.RuneCountInString(c)+2))
		}
		if _, err := fmt.Fprintln(w, strings.TrimRight(b.String(), " ")); err != nil {
			return err
		}
	}
	return nil
}

// cut shortens s to n characters, the last one an ellipsis.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// age says how long ago t was, as kubectl does: 45s, 12m, 5h, 3d, 2y.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d < 2*365*24*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return fmt.Sprintf("%dy", int(d.Hours()/24/365))
}
