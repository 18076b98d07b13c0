package report

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sig formats v with about three significant digits, trimming zeros.
func sig(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	d := 2 - int(math.Floor(math.Log10(math.Abs(v))))
	if d < 0 {
		d = 0
	}
	s := strconv.FormatFloat(v, 'f', d, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// duration formats nanoseconds.
func duration(ns float64) string {
	a := math.Abs(ns)
	switch {
	case a < 1e3:
		return sig(ns) + " ns"
	case a < 1e6:
		return sig(ns/1e3) + " µs"
	case a < 1e9:
		return sig(ns/1e6) + " ms"
	}
	return sig(ns/1e9) + " s"
}

// count formats a large number with an SI suffix.
func count(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return sig(v/1e9) + "G"
	case a >= 1e6:
		return sig(v/1e6) + "M"
	case a >= 1e4:
		return sig(v/1e3) + "k"
	}
	return sig(v)
}

// byteSize formats bytes with binary prefixes.
func byteSize(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1<<30:
		return sig(v/(1<<30)) + " GiB"
	case a >= 1<<20:
		return sig(v/(1<<20)) + " MiB"
	case a >= 1<<10:
		return sig(v/(1<<10)) + " KiB"
	}
	return sig(v) + " B"
}

// formatFigure formats a value by the unit suffix of its name
// (DESIGN §3.2: units in the name).
func formatFigure(name string, v any) string {
	n, ok := v.(json.Number)
	if !ok {
		return fmt.Sprint(v)
	}
	f, err := n.Float64()
	if err != nil {
		return n.String()
	}
	switch {
	case strings.HasSuffix(name, "_bytes_per_sec"):
		return byteSize(f) + "/s"
	case strings.HasSuffix(name, "_per_cpu_sec"):
		return count(f) + "/CPU-s"
	case strings.HasSuffix(name, "_per_sec"):
		return count(f) + "/s"
	case strings.HasSuffix(name, "_ns"):
		return duration(f)
	case strings.HasSuffix(name, "_us"):
		return duration(f * 1e3)
	case strings.HasSuffix(name, "_ms"):
		return duration(f * 1e6)
	case strings.HasSuffix(name, "_s") || strings.HasSuffix(name, "_sec") || strings.HasSuffix(name, "_seconds"):
		return duration(f * 1e9)
	case strings.HasSuffix(name, "_bytes"):
		return byteSize(f)
	case strings.HasSuffix(name, "_ratio") || strings.HasSuffix(name, "_x"):
		return sig(f) + "×"
	case strings.HasSuffix(name, "_pct") || strings.HasSuffix(name, "_percent"):
		return sig(f) + "%"
	// A rate qualified after its unit (load_bytes_per_sec_1core).
	case strings.Contains(name, "_bytes_per_sec_"):
		return byteSize(f) + "/s"
	case strings.Contains(name, "_per_sec_"):
		return count(f) + "/s"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return group(int64(f))
	}
	return sig(f)
}

// group writes an integer with thin-space thousands separators.
func group(v int64) string {
	s := strconv.FormatInt(v, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u2009")
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// ratio returns value/floor formatted, or "" when it has no meaning.
func ratio(value any, floor json.Number) string {
	n, ok := value.(json.Number)
	if !ok || floor == "" {
		return ""
	}
	a, err1 := n.Float64()
	b, err2 := floor.Float64()
	if err1 != nil || err2 != nil || b == 0 {
		return ""
	}
	return sig(a/b) + "×"
}
