package catalog

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

// The smallest valid catalog, which each error case breaks in one place.
const (
	baseCatalog = `categories:
  - id: social
    name: Social media
    description: Social networks.
    sources:
      - {id: social-list, url: https://example.com/social.txt, format: domains, licence: MIT, match: subtree}
  - id: malware
    name: Malware
    description: Harmful software.
    sources: []
services:
  - {id: chirp, name: Chirp, category: social, file: services/chirp.txt}
presets:
  - id: kid
    description: Young children.
    block: [social, malware, chirp]
    safe_search: true
    youtube: strict
    bypass_protection: true
bypass:
  file: bypass.txt
  canary: [use-application-dns.net]
  private_relay: [mask.icloud.com]
  ddr: [_dns.resolver.arpa]
`
	baseChirp = `# Chirp (service "chirp")
# category: social
# checked: 2026-11-27
chirp.example
cdn-chirp.example
`
	baseBypass = "# bypass\ndns.example\n"
	baseSafe   = `rules:
  - engine: google
    level: strict
    cname: forcesafesearch.google.com
    fallback_ipv4: [216.239.38.120]
    names: [www.google.com, google.com]
  - engine: yandex
    level: strict
    a: [213.180.193.56]
    names: [yandex.ru]
unsupported:
  - engine: brave
    names: [search.brave.com]
`
)

func baseFiles() map[string]string {
	return map[string]string{
		"catalog.yaml":       baseCatalog,
		"safesearch.yaml":    baseSafe,
		"services/chirp.txt": baseChirp,
		"bypass.txt":         baseBypass,
	}
}

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, data := range files {
		m[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return m
}

func TestLoadBase(t *testing.T) {
	c, err := Load(mapFS(baseFiles()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	s, ok := c.Service("chirp")
	if !ok || strings.Join(s.Domains, " ") != "chirp.example cdn-chirp.example" {
		t.Errorf("service chirp = %+v", s)
	}
	if kind, _ := c.Tag("chirp"); kind != KindService {
		t.Errorf("Tag(chirp) = %q", kind)
	}
	if len(c.SafeSearch) != 2 || c.SafeSearch[1].CNAME != "" || len(c.SafeSearch[1].A) != 1 {
		t.Errorf("safe search = %+v", c.SafeSearch)
	}
	if len(c.NoSafeSearch) != 1 || c.NoSafeSearch[0].Engine != "brave" || strings.Join(c.NoSafeSearch[0].Names, " ") != "search.brave.com" {
		t.Errorf("unsupported engines = %+v", c.NoSafeSearch)
	}
	if got := c.Categories[0].Sources[0]; got.Format != "domains" || got.Match != MatchSubtree || got.Licence != "MIT" {
		t.Errorf("source = %+v", got)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		file string // file to change
		old  string // text replaced in it ("" replaces the whole file)
		new  string
		want string // the error contains this; "{line}" is the line of new in file
	}{
		{"duplicate category", "catalog.yaml", "id: malware", "id: social",
			`catalog.yaml:7: duplicate tag "social" (first defined on line 2)`},
		{"service named like a category", "catalog.yaml", "id: chirp,", "id: malware,",
			`catalog.yaml:{line}: duplicate tag "malware": already a category`},
		{"duplicate service", "catalog.yaml", "presets:", "  - {id: chirp, name: Again, category: social, file: services/chirp.txt}\npresets:",
			`catalog.yaml:{line}: duplicate tag "chirp" (first defined on line 12)`},
		{"background outside the service", "catalog.yaml", "file: services/chirp.txt}", "file: services/chirp.txt,\n      background: [push.other.example]}",
			`catalog.yaml:13: service "chirp": background[0]: "push.other.example" is not under one of the service's domains`},
		{"bad background name", "catalog.yaml", "file: services/chirp.txt}", "file: services/chirp.txt,\n      background: [\"push..chirp.example\"]}",
			`catalog.yaml:13: service "chirp": background[0]:`},
		{"unknown category in service", "catalog.yaml", "category: social", "category: socal",
			`catalog.yaml:{line}: service "chirp": unknown category "socal"`},
		{"service as a category", "catalog.yaml", "category: social", "category: chirp",
			`service "chirp": unknown category "chirp"`},
		{"unknown tag in preset", "catalog.yaml", "block: [social, malware, chirp]", "block: [social, malwear]",
			`catalog.yaml:{line}: preset "kid": unknown tag "malwear"`},
		{"tag twice in preset", "catalog.yaml", "block: [social, malware, chirp]", "block: [social, social]",
			`preset "kid": tag "social" listed twice`},
		{"bad youtube level", "catalog.yaml", "youtube: strict", "youtube: medium",
			`catalog.yaml:{line}: preset "kid": youtube "medium": want strict, moderate or off`},
		{"missing safe_search", "catalog.yaml", "    safe_search: true\n", "",
			`preset "kid": missing safe_search`},
		{"bad format", "catalog.yaml", "format: domains", "format: csv",
			`catalog.yaml:{line}: source "social-list": unknown list format "csv"`},
		{"http url", "catalog.yaml", "url: https://example.com", "url: http://example.com",
			`source "social-list": url "http://example.com/social.txt": want an https address`},
		{"missing licence", "catalog.yaml", "licence: MIT, ", "",
			`source "social-list": missing licence`},
		{"missing match", "catalog.yaml", ", match: subtree}", "}",
			`source "social-list": missing match (exact, www or subtree)`},
		{"bad match", "catalog.yaml", "match: subtree}", "match: www.}",
			`catalog.yaml:{line}: source "social-list": match "www.": want exact, www or subtree`},
		{"embed a GPL list", "catalog.yaml", "licence: MIT, match: subtree}", "licence: GPL-3.0, match: subtree, embed: true}",
			`catalog.yaml:{line}: source "social-list": embed: licence "GPL-3.0" does not allow shipping`},
		{"bad precedence", "catalog.yaml", "    description: Harmful software.\n", "    precedence: wide\n    description: Harmful software.\n",
			`catalog.yaml:{line}: category "malware": precedence "wide": want narrow, broad or security`},
		{"bad exclude", "catalog.yaml", "    description: Harmful software.\n", "    exclude: [Bad..name]\n    description: Harmful software.\n",
			`category "malware": exclude "Bad..name"`},
		{"duplicate source id", "catalog.yaml", "sources: []", "sources:\n      - {id: social-list, url: https://example.com/m.txt, format: hosts, licence: MIT, match: www}",
			`duplicate source id "social-list"`},
		{"bad source id", "catalog.yaml", "id: social-list", "id: social/list",
			`list "social/list": invalid id`},
		{"bad tag id", "catalog.yaml", "id: chirp,", "id: Chirp,",
			`catalog.yaml:{line}: service "Chirp": invalid id "Chirp"`},
		{"missing description", "catalog.yaml", "    description: Harmful software.\n", "",
			`category "malware": missing description`},
		{"unknown field", "catalog.yaml", "    name: Malware\n", "    colour: red\n    name: Malware\n",
			`catalog.yaml:{line}: field colour not found`},
		{"list expected", "catalog.yaml", "block: [social, malware, chirp]", "block: {social: true}",
			`catalog.yaml:{line}: cannot unmarshal !!map into a list`},
		{"mapping expected", "catalog.yaml", "bypass:\n  file: bypass.txt", "bypass: bypass.txt\nfoo:\n  file: bypass.txt",
			`catalog.yaml:{line}: cannot unmarshal !!str ` + "`bypass.txt`" + ` into a mapping`},
		{"bool expected", "catalog.yaml", "safe_search: true", "safe_search: maybe",
			`catalog.yaml:{line}: cannot unmarshal !!str ` + "`maybe`" + ` into bool`},
		{"yaml syntax", "catalog.yaml", "", "categories: [\n",
			`catalog.yaml:`},
		{"missing service file", "services/chirp.txt", "", "\x00delete",
			`catalog.yaml:12: reading services/chirp.txt`},
		{"file path outside", "catalog.yaml", "file: services/chirp.txt", "file: ../chirp.txt",
			`file "../chirp.txt": not a valid path`},
		{"upper-case domain", "services/chirp.txt", "cdn-chirp.example", "Cdn.Chirp.example",
			`services/chirp.txt:5: domain "Cdn.Chirp.example": upper-case letter 'C'`},
		{"single-label domain", "services/chirp.txt", "cdn-chirp.example", "chirp",
			`services/chirp.txt:5: domain "chirp": single label`},
		{"duplicate domain", "services/chirp.txt", "cdn-chirp.example", "chirp.example",
			`services/chirp.txt:5: duplicate domain "chirp.example" (first on line 4)`},
		{"inline comment", "services/chirp.txt", "cdn-chirp.example", "cdn-chirp.example # the CDN",
			`services/chirp.txt:5: domain "cdn-chirp.example # the CDN": character ' ' not allowed`},
		{"empty service file", "services/chirp.txt", "", "# nothing\n",
			`services/chirp.txt: no domains`},
		{"bad bypass domain", "bypass.txt", "dns.example", "dns..example",
			`bypass.txt:2: domain "dns..example": empty label`},
		{"bad canary", "catalog.yaml", "canary: [use-application-dns.net]", "canary: [use-application-dns.net.]",
			`catalog.yaml:{line}: bypass: canary: domain "use-application-dns.net.": trailing dot`},
		{"safe search bad address", "safesearch.yaml", "[216.239.38.120]", "[216.239.38.999]",
			`safesearch.yaml:{line}: rule google/strict: fallback_ipv4: ParseAddr("216.239.38.999")`},
		{"safe search v6 as v4", "safesearch.yaml", "a: [213.180.193.56]", "a: [\"2001:db8::1\"]",
			`rule yandex/strict: a: "2001:db8::1" is not an IPv4 address`},
		{"safe search cname and a", "safesearch.yaml", "    fallback_ipv4: [216.239.38.120]\n", "    a: [216.239.38.120]\n",
			`rule google/strict: a and aaaa answer without a cname`},
		{"safe search fallback without cname", "safesearch.yaml", "    a: [213.180.193.56]\n", "    fallback_ipv4: [213.180.193.56]\n",
			`rule yandex/strict: fallback addresses need a cname`},
		{"safe search name twice", "safesearch.yaml", "names: [yandex.ru]", "names: [yandex.ru, google.com]",
			`safesearch.yaml:{line}: rule yandex/strict: "google.com" is already rewritten for google`},
		{"unsupported engine rewritten too", "safesearch.yaml", "engine: brave", "engine:   google",
			`safesearch.yaml:{line}: unsupported[0]: engine "google" is listed twice or has rewrite rules`},
		{"unsupported name rewritten", "safesearch.yaml", "names: [search.brave.com]", "names: [google.com]",
			`safesearch.yaml:{line}: unsupported[0]: "google.com" is already listed for google`},
		{"unsupported bad name", "safesearch.yaml", "names: [search.brave.com]", "names: [Search.brave.com]",
			`unsupported[0]: domain "Search.brave.com": upper-case letter 'S'`},
		{"safe search duplicate rule", "safesearch.yaml", "engine: yandex", "engine: google",
			`rule google/strict: duplicate rule (first on line 2)`},
		{"safe search bad name", "safesearch.yaml", "names: [yandex.ru]", "names: [yandex]",
			`rule yandex/strict: domain "yandex": single label`},
		{"curated file of another name", "catalog.yaml", "    description: Social networks.\n", "    curated: curated/games.txt\n    description: Social networks.\n",
			`catalog.yaml:{line}: category "social": curated "curated/games.txt": want "curated/social.txt"`},
		{"missing curated file", "catalog.yaml", "    description: Social networks.\n", "    curated: curated/social.txt\n    description: Social networks.\n",
			`catalog.yaml:{line}: reading curated/social.txt`},
		{"youtube level", "safesearch.yaml", "engine: yandex\n    level: strict", "engine: youtube\n    level: family",
			`rule youtube/family: youtube level "family": want strict or moderate`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := baseFiles()
			switch {
			case tt.new == "\x00delete":
				delete(files, tt.file)
			case tt.old == "":
				files[tt.file] = tt.new
			default:
				if !strings.Contains(files[tt.file], tt.old) {
					t.Fatalf("%s does not contain %q", tt.file, tt.old)
				}
				files[tt.file] = strings.Replace(files[tt.file], tt.old, tt.new, 1)
			}
			want := tt.want
			if strings.Contains(want, "{line}") {
				want = strings.ReplaceAll(want, "{line}", fmt.Sprint(lineOf(t, files[tt.file], tt.new)))
			}
			c, err := Load(mapFS(files))
			if err == nil {
				t.Fatalf("Load succeeded (%d services), want an error containing %q", len(c.Services), want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, want)
			}
		})
	}
}

// lineOf returns the 1-based line of the first line of snippet in text.
func lineOf(t *testing.T, text, snippet string) int {
	t.Helper()
	first, _, _ := strings.Cut(strings.TrimLeft(snippet, "\n"), "\n")
	i := strings.Index(text, first)
	if first == "" || i < 0 {
		t.Fatalf("snippet %q not found", snippet)
	}
	return strings.Count(text[:i], "\n") + 1
}

func TestLoadReportsEveryProblem(t *testing.T) {
	files := baseFiles()
	files["services/chirp.txt"] = "bad\nAlso.Bad\nok.example\nok.example\n"
	files["catalog.yaml"] = strings.Replace(files["catalog.yaml"], "youtube: strict", "youtube: loud", 1)
	_, err := Load(mapFS(files))
	if err == nil {
		t.Fatal("Load succeeded")
	}
	for _, want := range []string{"services/chirp.txt:1:", "services/chirp.txt:2:", "services/chirp.txt:4:", `youtube "loud"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if !strings.HasPrefix(err.Error(), "loading catalog: ") {
		t.Errorf("error %q should start with the action", err)
	}
}

func TestLoadBoundsErrors(t *testing.T) {
	files := baseFiles()
	files["services/chirp.txt"] = strings.Repeat("bad\n", 100)
	_, err := Load(mapFS(files))
	if err == nil {
		t.Fatal("Load succeeded")
	}
	if got := strings.Count(err.Error(), "single label"); got != maxErrors {
		t.Errorf("%d problems reported, want %d", got, maxErrors)
	}
	if !strings.Contains(err.Error(), "and 80 more problems") {
		t.Errorf("error does not count the rest:\n%v", err)
	}
}

func TestCheckDomain(t *testing.T) {
	tests := []struct {
		name string
		want string // "" = valid
	}{
		{"example.com", ""},
		{"a.b.example.co.uk", ""},
		{"xn--d1acpjx3f.xn--p1ai", ""},
		{"_dns.resolver.arpa", ""},
		{"9gag.com", ""},
		{"tik-tokapi.com", ""},
		{"", "empty domain"},
		{"com", "single label"},
		{"Example.com", "upper-case letter 'E'"},
		{"example.com.", "trailing dot"},
		{".example.com", "empty label"},
		{"a..b", "empty label"},
		{"-a.com", `label "-a" starts or ends with '-'`},
		{"a-.com", `label "a-" starts or ends with '-'`},
		{"1.2.3.4", "last label is all digits"},
		{"*.example.com", `character '*' not allowed`},
		{"exa mple.com", `character ' ' not allowed`},
		{"bücher.de", "not allowed"},
		{strings.Repeat("a", 64) + ".com", "label longer than 63"},
		{strings.Repeat("abcdefghi.", 26) + "com", "longer than 253"},
	}
	for _, tt := range tests {
		err := checkDomain(tt.name)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("checkDomain(%q) = %v, want nil", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("checkDomain(%q) = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

func FuzzParseDomains(f *testing.F) {
	f.Add([]byte(baseChirp))
	f.Add([]byte("a.com\na.com\n\n# x\nB.com\r\n  c.org  \n"))
	f.Add([]byte(strings.Repeat("x", 2000)))
	f.Fuzz(func(t *testing.T, data []byte) {
		names, errs := parseDomains(data)
		lines := strings.Count(string(data), "\n") + 1
		seen := map[string]bool{}
		for _, n := range names {
			if err := checkDomain(n); err != nil {
				t.Errorf("returned invalid name: %v", err)
			}
			if seen[n] {
				t.Errorf("returned %q twice", n)
			}
			seen[n] = true
		}
		for _, e := range errs {
			if e.Line < 1 || e.Line > lines || e.Err == nil {
				t.Errorf("bad line error %+v (%d lines)", e, lines)
			}
		}
	})
}

// TestLoadCurated: a category's curated file is read like a service file:
// its names in file order, and a bad line named by file and line.
func TestLoadCurated(t *testing.T) {
	files := baseFiles()
	files["catalog.yaml"] = strings.Replace(baseCatalog, "    description: Social networks.\n", "    description: Social networks.\n    curated: curated/social.txt\n", 1)
	files["curated/social.txt"] = "# Social (curated list \"social\")\n# category: social\n# checked: 2026-12-07\nfeed.example\nphotos.example\n"
	c, err := Load(mapFS(files))
	if err != nil {
		t.Fatal(err)
	}
	social, _ := c.Category("social")
	if social.CuratedFile != "curated/social.txt" || strings.Join(social.Curated, " ") != "feed.example photos.example" {
		t.Errorf("social: curated %q %q, want curated/social.txt [feed.example photos.example]", social.CuratedFile, social.Curated)
	}
	if malware, _ := c.Category("malware"); malware.CuratedFile != "" || malware.Curated != nil {
		t.Errorf("malware: curated %q %q, want none", malware.CuratedFile, malware.Curated)
	}

	tests := []struct{ name, body, want string }{
		{"duplicate", "feed.example\nfeed.example\n", `curated/social.txt:2: duplicate domain "feed.example" (first on line 1)`},
		{"bad name", "feed.example\nFeed..example\n", `curated/social.txt:2: domain "Feed..example"`},
		{"empty", "# nothing yet\n", `curated/social.txt: no domains`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files["curated/social.txt"] = tt.body
			if _, err := Load(mapFS(files)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
