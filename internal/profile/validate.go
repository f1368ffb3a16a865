package profile

import (
	"fmt"
	"strings"
	"time"
)

// Validate checks the fields of profile p that need no catalog (tags,
// presets and search engines are the compiler's), calling bad with the
// path of each wrong field under path: "profiles.kid" in a config file,
// "profile" for the API and the store.
func Validate(path string, p Profile, bad func(path, format string, args ...any)) {
	switch p.YouTube {
	case "", "strict", "moderate", "off":
	default:
		bad(path+".youtube", "%q is not strict, moderate or off", p.YouTube)
	}
	if p.TimeZone != "" {
		if _, err := time.LoadLocation(p.TimeZone); err != nil {
			bad(path+".time_zone", "%q is not an IANA time zone", p.TimeZone)
		}
	}
	for i, sc := range p.Schedules {
		sp := fmt.Sprintf("%s.schedules[%d]", path, i)
		if _, err := ParseDays(sc.Days); err != nil {
			bad(sp+".days", "%v", err)
		}
		if _, err := ParseClock(sc.From); err != nil {
			bad(sp+".from", "%v", err)
		}
		if _, err := ParseClock(sc.To); err != nil {
			bad(sp+".to", "%v", err)
		}
		kinds := 0
		for _, set := range []bool{sc.Pause, len(sc.Block) > 0, len(sc.AllowOnly) > 0} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			bad(sp, "needs exactly one of pause, block and allow_only")
		}
	}
	validateBudgets(path, p.Budgets, bad)
	for _, list := range []struct {
		field string
		items []string
	}{{"allow", p.Allow}, {"deny", p.Deny}} {
		for i, d := range list.items {
			if _, _, err := ParseOverride(d); err != nil {
				bad(fmt.Sprintf("%s.%s[%d]", path, list.field, i), "%v", err)
			}
		}
	}
}

// weekdays are the day names, index time.Weekday.
var weekdays = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// weekday returns the time.Weekday of a three-letter day name.
func weekday(s string) (time.Weekday, bool) {
	for i, d := range weekdays {
		if d == s {
			return time.Weekday(i), true
		}
	}
	return 0, false
}

// ParseDays returns the weekdays (index time.Weekday) days names: each
// item a day (mon..sun), a range ("mon-fri"; "fri-mon" wraps over the
// weekend), or daily, weekdays, weekends.
func ParseDays(days Days) ([7]bool, error) {
	var set [7]bool
	if len(days) == 0 {
		return set, fmt.Errorf("no days (mon..sun, a range such as mon-fri, daily, weekdays or weekends)")
	}
	for _, item := range days {
		d := strings.ToLower(strings.TrimSpace(item))
		switch d {
		case "daily":
			set = [7]bool{true, true, true, true, true, true, true}
			continue
		case "weekdays":
			for wd := time.Monday; wd <= time.Friday; wd++ {
				set[wd] = true
			}
			continue
		case "weekends":
			set[time.Saturday], set[time.Sunday] = true, true
			continue
		}
		from, to, isRange := strings.Cut(d, "-")
		if !isRange {
			to = from
		}
		a, okA := weekday(from)
		b, okB := weekday(to)
		if !okA || !okB {
			return set, fmt.Errorf("%q is not a day (mon..sun, a range such as mon-fri, daily, weekdays or weekends)", item)
		}
		for wd := a; ; wd = (wd + 1) % 7 {
			set[wd] = true
			if wd == b {
				break
			}
		}
	}
	return set, nil
}

// ParseClock returns the minutes after midnight of "HH:MM" (24:00 allowed).
func ParseClock(s string) (int, error) {
	var h, m int
	if n, err := fmt.Sscanf(s, "%d:%d", &h, &m); err != nil || n != 2 || len(s) != 5 || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", s)
	}
	return h*60 + m, nil
}

// ParseOverride parses an allow or deny entry: "example.com" (the name
// and its subdomains), "*.example.com" (the same), "=example.com" (the
// name alone), with an optional leading "!" that lets an allow entry
// beat even malware and phishing blocks. It returns the lower-case name
// without trailing dot, and whether it covers subdomains.
func ParseOverride(s string) (name string, subtree bool, err error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "!")
	subtree = true
	switch {
	case strings.HasPrefix(s, "="):
		s, subtree = s[1:], false
	case strings.HasPrefix(s, "*."):
		s = s[2:]
	}
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	if s == "" || len(s) > 253 || strings.ContainsAny(s, " \t/:*=!") {
		return "", false, fmt.Errorf("%q is not a domain name", s)
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return "", false, fmt.Errorf("%q is not a domain name", s)
		}
	}
	return s, subtree, nil
}

// validateBudgets checks a profile's budgets: a tag, minutes 0 to 1440,
// days, and never two budgets for one tag on one day.
func validateBudgets(path string, bs []Budget, bad func(path, format string, args ...any)) {
	taken := map[string][7]bool{}
	for i, b := range bs {
		bp := fmt.Sprintf("%s.budgets[%d]", path, i)
		if b.Tag == "" {
			bad(bp+".tag", "required (a category or service)")
		}
		if b.Minutes == nil {
			bad(bp+".minutes", "required (0 to 1440)")
		} else if *b.Minutes < 0 || *b.Minutes > 24*60 {
			bad(bp+".minutes", "%d is not 0 to 1440", *b.Minutes)
		}
		days := [7]bool{true, true, true, true, true, true, true}
		if len(b.Days) > 0 {
			var err error
			if days, err = ParseDays(b.Days); err != nil {
				bad(bp+".days", "%v", err)
				continue
			}
		}
		had := taken[b.Tag]
		for d, on := range days {
			if on && had[d] {
				bad(bp+".days", "%s has two budgets for %q", time.Weekday(d), b.Tag)
				break
			}
			had[d] = had[d] || on
		}
		taken[b.Tag] = had
	}
}

// BudgetMinutes returns the allowance of each weekday (index
// time.Weekday) that bs give tag, -1 for a day without one. bs must have
// passed Validate.
func BudgetMinutes(bs []Budget, tag string) [7]int {
	out := [7]int{-1, -1, -1, -1, -1, -1, -1}
	for _, b := range bs {
		if b.Tag != tag || b.Minutes == nil {
			continue
		}
		days := [7]bool{true, true, true, true, true, true, true}
		if len(b.Days) > 0 {
			days, _ = ParseDays(b.Days)
		}
		for d, on := range days {
			if on {
				out[d] = *b.Minutes
			}
		}
	}
	return out
}
