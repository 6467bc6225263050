package console

import (
	"strconv"

	"github.com/synwatch/synwatch/verifier/console/feed"
)

// chart is the overview's changes-per-day bar chart, drawn on the server
// as SVG (no script, no inline style: the CSP holds).
type chart struct {
	Width, Height int
	Bars          []bar
	Max           int
	Total         int
	Ticks         []tick
}

type bar struct {
	X, Y, W, H int
	Date       string
	N          int
	Label      string // for the title tooltip and screen readers
}

type tick struct {
	X    int
	Text string
}

const chartH, chartW, barW, barGap, chartTop = 120, 30 * (14 + 4), 14, 4, 10

func newChart(days []feed.Day) chart {
	c := chart{Width: chartW, Height: chartH + 20}
	for _, d := range days {
		c.Max = max(c.Max, d.Total)
		c.Total += d.Total
	}
	for i, d := range days {
		h := 0
		if c.Max > 0 {
			h = d.Total * (chartH - chartTop) / c.Max
		}
		if d.Total > 0 && h < 2 {
			h = 2
		}
		x := i * (barW + barGap)
		c.Bars = append(c.Bars, bar{X: x, Y: chartH - h, W: barW, H: h, Date: d.Date, N: d.Total,
			Label: d.Date + ": " + strconv.Itoa(d.Total) + " changes"})
		if i%7 == 0 {
			c.Ticks = append(c.Ticks, tick{X: x, Text: d.Date[5:]})
		}
	}
	return c
}
