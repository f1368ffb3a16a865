package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/hearth-dns/hearth/internal/lists"
)

// The fixed file names inside the catalog file system.
const (
	catalogFile    = "catalog.yaml"
	safeSearchFile = "safesearch.yaml"
)

// maxErrors bounds how many problems one Load reports, so a badly broken
// file gives a readable error rather than thousands of lines.
const maxErrors = 20

// Load reads catalog.yaml, safesearch.yaml and the domain files they name
// from fsys, and validates everything: tag ids are well-formed and unique
// across categories and services, services name existing categories,
// presets block existing tags, sources have a known format, an https URL and
// a licence, and every domain is a valid lower-case name with at least two
// labels, once per file. The error lists every problem found (up to 20), each
// as "file:line: message".
func Load(fsys fs.FS) (*Catalog, error) {
	l := &loader{fsys: fsys}
	c := &Catalog{}

	var raw rawCatalog
	if l.decode(catalogFile, &raw) {
		l.categories(c, raw.Categories)
		l.services(c, raw.Services)
		l.presets(c, raw.Presets)
		l.bypass(c, raw.Bypass)
	}
	var ss rawSafeSearch
	if l.decode(safeSearchFile, &ss) {
		owner := l.safeSearch(c, ss.Rules)
		l.unsupported(c, ss.Unsupported, owner)
	}
	if err := l.err(); err != nil {
		return nil, fmt.Errorf("loading catalog: %w", err)
	}
	return c, nil
}

// at is a YAML value with the line it came from; Line is 0 when the key was
// absent, so at also says whether a field was set.
type at[T any] struct {
	V    T
	Line int
}

// UnmarshalYAML records the line and decodes the value.
func (a *at[T]) UnmarshalYAML(n *yaml.Node) error {
	a.Line = n.Line
	return n.Decode(&a.V)
}

type rawCatalog struct {
	Categories []rawCategory `yaml:"categories"`
	Services   []rawService  `yaml:"services"`
	Presets    []rawPreset   `yaml:"presets"`
	Bypass     rawBypass     `yaml:"bypass"`
}

type rawCategory struct {
	ID          at[string]   `yaml:"id"`
	Name        at[string]   `yaml:"name"`
	Description at[string]   `yaml:"description"`
	Precedence  at[string]   `yaml:"precedence"`
	Exclude     []at[string] `yaml:"exclude"`
	Sources     []rawSource  `yaml:"sources"`
	Curated     at[string]   `yaml:"curated"`
}

type rawSource struct {
	ID      at[string] `yaml:"id"`
	URL     at[string] `yaml:"url"`
	Format  at[string] `yaml:"format"`
	Licence at[string] `yaml:"licence"`
	Match   at[string] `yaml:"match"`
	Embed   at[bool]   `yaml:"embed"`
}

type rawService struct {
	ID         at[string]   `yaml:"id"`
	Name       at[string]   `yaml:"name"`
	Category   at[string]   `yaml:"category"`
	File       at[string]   `yaml:"file"`
	Background []at[string] `yaml:"background"`
}

type rawPreset struct {
	ID               at[string]   `yaml:"id"`
	Description      at[string]   `yaml:"description"`
	Block            []at[string] `yaml:"block"`
	SafeSearch       at[bool]     `yaml:"safe_search"`
	YouTube          at[string]   `yaml:"youtube"`
	BypassProtection at[bool]     `yaml:"bypass_protection"`
}

type rawBypass struct {
	File         at[string]   `yaml:"file"`
	Canary       []at[string] `yaml:"canary"`
	PrivateRelay []at[string] `yaml:"private_relay"`
	DDR          []at[string] `yaml:"ddr"`
}

type rawSafeSearch struct {
	Rules       []rawRule        `yaml:"rules"`
	Unsupported []rawUnsupported `yaml:"unsupported"`
}

type rawUnsupported struct {
	Engine at[string]   `yaml:"engine"`
	Names  []at[string] `yaml:"names"`
}

type rawRule struct {
	Engine       at[string]   `yaml:"engine"`
	Level        at[string]   `yaml:"level"`
	Names        []at[string] `yaml:"names"`
	CNAME        at[string]   `yaml:"cname"`
	A            []at[string] `yaml:"a"`
	AAAA         []at[string] `yaml:"aaaa"`
	FallbackIPv4 []at[string] `yaml:"fallback_ipv4"`
	FallbackIPv6 []at[string] `yaml:"fallback_ipv6"`
}

// loader collects problems as it validates, so one Load reports them all.
type loader struct {
	fsys fs.FS
	errs []error
	more int // problems beyond maxErrors
}

func (l *loader) add(err error) {
	if len(l.errs) < maxErrors {
		l.errs = append(l.errs, err)
	} else {
		l.more++
	}
}

// errorf records "file:line: message"; line 0 (a missing key) prints the
// item's line when the caller passes it, or just the file.
func (l *loader) errorf(file string, line int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if line > 0 {
		l.add(fmt.Errorf("%s:%d: %s", file, line, msg))
	} else {
		l.add(fmt.Errorf("%s: %s", file, msg))
	}
}

func (l *loader) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	errs := l.errs
	if l.more > 0 {
		errs = append(errs, fmt.Errorf("and %d more problems", l.more))
	}
	return errors.Join(errs...)
}

// decode strictly decodes a YAML file (unknown keys are errors) into v.
func (l *loader) decode(file string, v any) bool {
	data, err := fs.ReadFile(l.fsys, file)
	if err != nil {
		l.add(fmt.Errorf("reading %s: %w", file, err))
		return false
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, e := range te.Errors {
				l.add(fmt.Errorf("%s", yamlMessage(file, e)))
			}
		} else {
			l.add(fmt.Errorf("%s", yamlMessage(file, err.Error())))
		}
		return false
	}
	return true
}

// yamlMessage turns the YAML library's "yaml: line 3: msg" or "line 3: msg"
// into "file:3: msg" and drops Go type names.
func yamlMessage(file, msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if _, err := strconv.Atoi(num); err == nil {
				return file + ":" + num + ": " + goTypesOut(text)
			}
		}
	}
	return file + ": " + msg
}

// goTypesOut rewrites the Go type names the YAML library puts in its
// messages ("field x not found in type catalog.rawService", "cannot unmarshal
// !!map into []catalog.at[string]") into words for the file's author.
func goTypesOut(msg string) string {
	if i := strings.Index(msg, " in type catalog."); i >= 0 {
		return msg[:i]
	}
	if i := strings.Index(msg, " into "); i >= 0 {
		switch t := msg[i+len(" into "):]; {
		case strings.HasPrefix(t, "[]"):
			return msg[:i] + " into a list"
		case strings.HasPrefix(t, "catalog."):
			return msg[:i] + " into a mapping"
		}
	}
	return msg
}

// firstLine returns the first non-zero line, for a problem that belongs to
// an item rather than to one of its fields.
func firstLine(lines ...int) int {
	for _, n := range lines {
		if n > 0 {
			return n
		}
	}
	return 0
}

// require reports a missing or empty string field.
func (l *loader) require(file, what string, itemLine int, field string, v at[string]) bool {
	if v.Line == 0 {
		l.errorf(file, itemLine, "%s: missing %s", what, field)
		return false
	}
	if strings.TrimSpace(v.V) == "" {
		l.errorf(file, v.Line, "%s: empty %s", what, field)
		return false
	}
	return true
}

// tagID checks the id syntax shared by tags, presets, engines and levels:
// lower-case letters, digits and single hyphens, starting with a letter or
// digit, at most 63 bytes.
func tagID(id string) error {
	if id == "" || len(id) > 63 {
		return fmt.Errorf("invalid id %q: want 1 to 63 characters", id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(id)-1 && id[i-1] != '-':
		default:
			return fmt.Errorf("invalid id %q: want lower-case letters, digits and single hyphens inside", id)
		}
	}
	return nil
}

// tagOwner remembers where each tag was defined, to report collisions.
type tagOwner struct {
	kind string
	line int
}

func (l *loader) categories(c *Catalog, raw []rawCategory) {
	sources := map[string]int{}
	seen := map[string]int{}
	for i, rc := range raw {
		line := firstLine(rc.ID.Line, rc.Name.Line, rc.Description.Line)
		what := fmt.Sprintf("categories[%d]", i)
		if !l.require(catalogFile, what, line, "id", rc.ID) {
			continue
		}
		id := rc.ID.V
		what = fmt.Sprintf("category %q", id)
		if err := tagID(id); err != nil {
			l.errorf(catalogFile, rc.ID.Line, "%s: %v", what, err)
			continue
		}
		if prev, dup := seen[id]; dup {
			l.errorf(catalogFile, rc.ID.Line, "duplicate tag %q (first defined on line %d)", id, prev)
			continue
		}
		seen[id] = rc.ID.Line
		l.require(catalogFile, what, line, "name", rc.Name)
		if l.require(catalogFile, what, line, "description", rc.Description) && strings.ContainsAny(rc.Description.V, "\r\n") {
			l.errorf(catalogFile, rc.Description.Line, "%s: description must be one line", what)
		}
		cat := Category{ID: id, Name: rc.Name.V, Description: rc.Description.V, Precedence: PrecedenceNarrow}
		switch rc.Precedence.V {
		case "", PrecedenceNarrow:
		case PrecedenceBroad, PrecedenceSecurity:
			cat.Precedence = rc.Precedence.V
		default:
			l.errorf(catalogFile, rc.Precedence.Line, "%s: precedence %q: want narrow, broad or security", what, rc.Precedence.V)
		}
		for _, e := range rc.Exclude {
			if err := checkDomain(e.V); err != nil {
				l.errorf(catalogFile, e.Line, "%s: exclude %q: %v", what, e.V, err)
				continue
			}
			cat.Exclude = append(cat.Exclude, e.V)
		}
		for j, rs := range rc.Sources {
			if s, ok := l.source(rs, fmt.Sprintf("%s: sources[%d]", what, j), line, sources); ok {
				cat.Sources = append(cat.Sources, s)
			}
		}
		if rc.Curated.Line > 0 {
			// One file per category, named after it, so a file can never
			// feed two categories.
			if want := "curated/" + id + ".txt"; rc.Curated.V != want {
				l.errorf(catalogFile, rc.Curated.Line, "%s: curated %q: want %q", what, rc.Curated.V, want)
			} else {
				cat.CuratedFile = rc.Curated.V
				cat.Curated = l.domainFile(rc.Curated.V, catalogFile, rc.Curated.Line)
			}
		}
		c.Categories = append(c.Categories, cat)
	}
}

// embeddable are the licences whose lists may ship inside the binary (the
// offline seed): permissive ones, which need at most an attribution
// (blocklists/seed/SOURCES.md). GPL and share-alike lists stay downloads.
var embeddable = map[string]bool{"MIT": true, "Unlicense": true, "CC0-1.0": true, "Apache-2.0": true, "BSD-2-Clause": true, "BSD-3-Clause": true}

func (l *loader) source(rs rawSource, what string, itemLine int, seen map[string]int) (Source, bool) {
	line := firstLine(rs.ID.Line, rs.URL.Line, itemLine)
	ok := l.require(catalogFile, what, line, "id", rs.ID)
	if ok {
		what = fmt.Sprintf("source %q", rs.ID.V)
		if prev, dup := seen[rs.ID.V]; dup {
			l.errorf(catalogFile, rs.ID.Line, "duplicate source id %q (first defined on line %d)", rs.ID.V, prev)
			ok = false
		} else {
			seen[rs.ID.V] = rs.ID.Line
		}
	}
	if !l.require(catalogFile, what, line, "url", rs.URL) {
		ok = false
	} else if u, err := url.Parse(rs.URL.V); err != nil || u.Scheme != "https" || u.Host == "" {
		l.errorf(catalogFile, rs.URL.Line, "%s: url %q: want an https address", what, rs.URL.V)
		ok = false
	}
	var format lists.Format
	if !l.require(catalogFile, what, line, "format", rs.Format) {
		ok = false
	} else if f, err := lists.ParseFormat(rs.Format.V); err != nil {
		l.errorf(catalogFile, rs.Format.Line, "%s: %v", what, err)
		ok = false
	} else {
		format = f
	}
	if !l.require(catalogFile, what, line, "licence", rs.Licence) {
		ok = false
	}
	switch rs.Match.V {
	case MatchExact, MatchWWW, MatchSubtree:
	case "":
		l.errorf(catalogFile, line, "%s: missing match (exact, www or subtree)", what)
		ok = false
	default:
		l.errorf(catalogFile, rs.Match.Line, "%s: match %q: want exact, www or subtree", what, rs.Match.V)
		ok = false
	}
	if !ok {
		return Source{}, false
	}
	s := Source{ID: rs.ID.V, URL: rs.URL.V, Format: string(format), Licence: rs.Licence.V, Match: rs.Match.V, Embed: rs.Embed.V}
	if s.Embed && !embeddable[s.Licence] {
		l.errorf(catalogFile, rs.Embed.Line, "%s: embed: licence %q does not allow shipping the list inside the Apache-2.0 binary (want one of MIT, Unlicense, CC0-1.0, Apache-2.0, BSD-2-Clause, BSD-3-Clause)", what, s.Licence)
		return Source{}, false
	}
	// The fetcher's own checks (id characters, URL shape) must pass too, or
	// the source would fail only when it is first fetched.
	if err := s.List().Validate(); err != nil {
		l.errorf(catalogFile, line, "%v", err)
		return Source{}, false
	}
	return s, true
}

func (l *loader) services(c *Catalog, raw []rawService) {
	tags := map[string]tagOwner{}
	for _, cat := range c.Categories {
		tags[cat.ID] = tagOwner{KindCategory, 0}
	}
	files := map[string]string{}
	for i, rs := range raw {
		line := firstLine(rs.ID.Line, rs.Name.Line, rs.Category.Line, rs.File.Line)
		what := fmt.Sprintf("services[%d]", i)
		if !l.require(catalogFile, what, line, "id", rs.ID) {
			continue
		}
		id := rs.ID.V
		what = fmt.Sprintf("service %q", id)
		if err := tagID(id); err != nil {
			l.errorf(catalogFile, rs.ID.Line, "%s: %v", what, err)
			continue
		}
		if prev, dup := tags[id]; dup {
			if prev.kind == KindCategory {
				l.errorf(catalogFile, rs.ID.Line, "duplicate tag %q: already a category", id)
			} else {
				l.errorf(catalogFile, rs.ID.Line, "duplicate tag %q (first defined on line %d)", id, prev.line)
			}
			continue
		}
		tags[id] = tagOwner{KindService, rs.ID.Line}
		l.require(catalogFile, what, line, "name", rs.Name)
		if l.require(catalogFile, what, line, "category", rs.Category) {
			if owner, ok := tags[rs.Category.V]; !ok || owner.kind != KindCategory {
				l.errorf(catalogFile, rs.Category.Line, "%s: unknown category %q", what, rs.Category.V)
			}
		}
		s := Service{ID: id, Name: rs.Name.V, Category: rs.Category.V}
		if l.require(catalogFile, what, line, "file", rs.File) {
			if other, dup := files[rs.File.V]; dup {
				l.errorf(catalogFile, rs.File.Line, "%s: file %q is already used by service %q", what, rs.File.V, other)
			} else {
				files[rs.File.V] = id
				s.Domains = l.domainFile(rs.File.V, catalogFile, rs.File.Line)
			}
		}
		for j, b := range rs.Background {
			name := strings.TrimSuffix(strings.ToLower(b.V), ".")
			if err := checkDomain(name); err != nil {
				l.errorf(catalogFile, b.Line, "%s: background[%d]: %v", what, j, err)
				continue
			}
			if !under(name, s.Domains) {
				l.errorf(catalogFile, b.Line, "%s: background[%d]: %q is not under one of the service's domains", what, j, name)
				continue
			}
			s.Background = append(s.Background, name)
		}
		c.Services = append(c.Services, s)
	}
}

func (l *loader) presets(c *Catalog, raw []rawPreset) {
	seen := map[string]int{}
	for i, rp := range raw {
		line := firstLine(rp.ID.Line, rp.Description.Line, rp.YouTube.Line)
		what := fmt.Sprintf("presets[%d]", i)
		if !l.require(catalogFile, what, line, "id", rp.ID) {
			continue
		}
		id := rp.ID.V
		what = fmt.Sprintf("preset %q", id)
		if err := tagID(id); err != nil {
			l.errorf(catalogFile, rp.ID.Line, "%s: %v", what, err)
			continue
		}
		if prev, dup := seen[id]; dup {
			l.errorf(catalogFile, rp.ID.Line, "duplicate preset %q (first defined on line %d)", id, prev)
			continue
		}
		seen[id] = rp.ID.Line
		l.require(catalogFile, what, line, "description", rp.Description)
		p := Preset{ID: id, Description: rp.Description.V, SafeSearch: rp.SafeSearch.V,
			YouTube: rp.YouTube.V, BypassProtection: rp.BypassProtection.V}
		blocked := map[string]bool{}
		for _, t := range rp.Block {
			switch _, ok := c.Tag(t.V); {
			case !ok:
				l.errorf(catalogFile, t.Line, "%s: unknown tag %q", what, t.V)
			case blocked[t.V]:
				l.errorf(catalogFile, t.Line, "%s: tag %q listed twice", what, t.V)
			default:
				blocked[t.V] = true
				p.Block = append(p.Block, t.V)
			}
		}
		if rp.SafeSearch.Line == 0 {
			l.errorf(catalogFile, line, "%s: missing safe_search (say true or false)", what)
		}
		if rp.BypassProtection.Line == 0 {
			l.errorf(catalogFile, line, "%s: missing bypass_protection (say true or false)", what)
		}
		if l.require(catalogFile, what, line, "youtube", rp.YouTube) {
			switch rp.YouTube.V {
			case YouTubeStrict, YouTubeModerate, YouTubeOff:
			default:
				l.errorf(catalogFile, rp.YouTube.Line, "%s: youtube %q: want strict, moderate or off", what, rp.YouTube.V)
			}
		}
		c.Presets = append(c.Presets, p)
	}
}

func (l *loader) bypass(c *Catalog, raw rawBypass) {
	if l.require(catalogFile, "bypass", 0, "file", raw.File) {
		c.Bypass.Domains = l.domainFile(raw.File.V, catalogFile, raw.File.Line)
	}
	c.Bypass.Canary = l.nameList("bypass: canary", raw.Canary)
	c.Bypass.PrivateRelay = l.nameList("bypass: private_relay", raw.PrivateRelay)
	c.Bypass.DDR = l.nameList("bypass: ddr", raw.DDR)
}

// nameList validates a YAML list of domain names in catalog.yaml.
func (l *loader) nameList(what string, raw []at[string]) []string {
	var names []string
	seen := map[string]bool{}
	for _, n := range raw {
		switch err := checkDomain(n.V); {
		case err != nil:
			l.errorf(catalogFile, n.Line, "%s: %v", what, err)
		case seen[n.V]:
			l.errorf(catalogFile, n.Line, "%s: %q listed twice", what, n.V)
		default:
			seen[n.V] = true
			names = append(names, n.V)
		}
	}
	return names
}

// domainFile reads and validates one domain file named on refLine of
// refFile.
func (l *loader) domainFile(name, refFile string, refLine int) []string {
	if !fs.ValidPath(name) {
		l.errorf(refFile, refLine, "file %q: not a valid path inside the catalog", name)
		return nil
	}
	data, err := fs.ReadFile(l.fsys, name)
	if err != nil {
		l.errorf(refFile, refLine, "reading %s: %v", name, err)
		return nil
	}
	domains, errs := parseDomains(data)
	for _, e := range errs {
		l.errorf(name, e.Line, "%v", e.Err)
	}
	if len(domains) == 0 && len(errs) == 0 {
		l.errorf(name, 0, "no domains")
	}
	return domains
}

// safeSearch checks the rewrite rules and returns which engine owns each
// name.
func (l *loader) safeSearch(c *Catalog, raw []rawRule) map[string]string {
	type key struct{ engine, level string }
	rules := map[key]int{}
	owner := map[string]string{} // name -> engine
	for i, rr := range raw {
		line := firstLine(rr.Engine.Line, rr.Level.Line, rr.CNAME.Line)
		what := fmt.Sprintf("rules[%d]", i)
		if !l.require(safeSearchFile, what, line, "engine", rr.Engine) ||
			!l.require(safeSearchFile, what, line, "level", rr.Level) {
			continue
		}
		r := SafeSearchRule{Engine: rr.Engine.V, Level: rr.Level.V, CNAME: rr.CNAME.V}
		what = fmt.Sprintf("rule %s/%s", r.Engine, r.Level)
		bad := false
		for _, f := range []at[string]{rr.Engine, rr.Level} {
			if err := tagID(f.V); err != nil {
				l.errorf(safeSearchFile, f.Line, "%s: %v", what, err)
				bad = true
			}
		}
		if bad {
			continue
		}
		k := key{r.Engine, r.Level}
		if prev, dup := rules[k]; dup {
			l.errorf(safeSearchFile, line, "%s: duplicate rule (first on line %d)", what, prev)
			continue
		}
		rules[k] = line
		if r.Engine == "youtube" && r.Level != YouTubeStrict && r.Level != YouTubeModerate {
			l.errorf(safeSearchFile, rr.Level.Line, "%s: youtube level %q: want strict or moderate", what, r.Level)
		}

		if len(rr.Names) == 0 {
			l.errorf(safeSearchFile, line, "%s: no names", what)
		}
		seen := map[string]bool{}
		for _, n := range rr.Names {
			switch err := checkDomain(n.V); {
			case err != nil:
				l.errorf(safeSearchFile, n.Line, "%s: %v", what, err)
			case seen[n.V]:
				l.errorf(safeSearchFile, n.Line, "%s: %q listed twice", what, n.V)
			case owner[n.V] != "" && owner[n.V] != r.Engine:
				l.errorf(safeSearchFile, n.Line, "%s: %q is already rewritten for %s", what, n.V, owner[n.V])
			default:
				seen[n.V] = true
				owner[n.V] = r.Engine
				r.Names = append(r.Names, n.V)
			}
		}

		if rr.CNAME.Line != 0 {
			if err := checkDomain(r.CNAME); err != nil {
				l.errorf(safeSearchFile, rr.CNAME.Line, "%s: cname: %v", what, err)
			}
			if len(rr.A) > 0 || len(rr.AAAA) > 0 {
				l.errorf(safeSearchFile, line, "%s: a and aaaa answer without a cname; with a cname, use fallback_ipv4 and fallback_ipv6", what)
			}
			r.A = l.addrs(what+": fallback_ipv4", rr.FallbackIPv4, true)
			r.AAAA = l.addrs(what+": fallback_ipv6", rr.FallbackIPv6, false)
		} else {
			if len(rr.FallbackIPv4) > 0 || len(rr.FallbackIPv6) > 0 {
				l.errorf(safeSearchFile, line, "%s: fallback addresses need a cname", what)
			}
			r.A = l.addrs(what+": a", rr.A, true)
			r.AAAA = l.addrs(what+": aaaa", rr.AAAA, false)
			if len(rr.A) == 0 && len(rr.AAAA) == 0 {
				l.errorf(safeSearchFile, line, "%s: want a cname or a/aaaa addresses", what)
			}
		}
		c.SafeSearch = append(c.SafeSearch, r)
	}
	return owner
}

// unsupported checks the engines without a DNS safe mode: names valid,
// not rewritten by a rule, and each engine and name listed once.
func (l *loader) unsupported(c *Catalog, raw []rawUnsupported, owner map[string]string) {
	engines := map[string]bool{}
	for _, r := range c.SafeSearch {
		engines[r.Engine] = true
	}
	for i, ru := range raw {
		what := fmt.Sprintf("unsupported[%d]", i)
		if !l.require(safeSearchFile, what, ru.Engine.Line, "engine", ru.Engine) {
			continue
		}
		if err := tagID(ru.Engine.V); err != nil {
			l.errorf(safeSearchFile, ru.Engine.Line, "%s: %v", what, err)
			continue
		}
		if engines[ru.Engine.V] {
			l.errorf(safeSearchFile, ru.Engine.Line, "%s: engine %q is listed twice or has rewrite rules", what, ru.Engine.V)
			continue
		}
		engines[ru.Engine.V] = true
		e := UnsupportedEngine{Engine: ru.Engine.V}
		if len(ru.Names) == 0 {
			l.errorf(safeSearchFile, ru.Engine.Line, "%s: no names", what)
		}
		for _, n := range ru.Names {
			switch err := checkDomain(n.V); {
			case err != nil:
				l.errorf(safeSearchFile, n.Line, "%s: %v", what, err)
			case owner[n.V] != "":
				l.errorf(safeSearchFile, n.Line, "%s: %q is already listed for %s", what, n.V, owner[n.V])
			default:
				owner[n.V] = e.Engine
				e.Names = append(e.Names, n.V)
			}
		}
		c.NoSafeSearch = append(c.NoSafeSearch, e)
	}
}

// addrs parses a list of IPv4 (v4) or IPv6 addresses.
func (l *loader) addrs(what string, raw []at[string], v4 bool) []netip.Addr {
	var out []netip.Addr
	for _, s := range raw {
		a, err := netip.ParseAddr(s.V)
		switch {
		case err != nil:
			l.errorf(safeSearchFile, s.Line, "%s: %v", what, err)
		case v4 && !a.Is4():
			l.errorf(safeSearchFile, s.Line, "%s: %q is not an IPv4 address", what, s.V)
		case !v4 && (!a.Is6() || a.Is4In6() || a.Zone() != ""):
			l.errorf(safeSearchFile, s.Line, "%s: %q is not an IPv6 address", what, s.V)
		default:
			out = append(out, a)
		}
	}
	return out
}

// under reports whether name is one of domains or a subdomain of one.
func under(name string, domains []string) bool {
	for _, d := range domains {
		if name == d || strings.HasSuffix(name, "."+d) {
			return true
		}
	}
	return false
}
