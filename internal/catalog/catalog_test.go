package catalog

import (
	"io/fs"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-dns/hearth/blocklists"
)

// taxonomy is the fixed category list (README, "Categories, devices and
// profiles"), in catalog order.
var taxonomy = []string{
	"adult", "gambling", "dating", "social", "games", "video", "chat", "drugs", "violence", "piracy",
	"malware", "phishing", "scam", "ads", "trackers", "cryptomining", "bypass", "newly-registered", "ai-chat",
}

// requiredServices must stay in the catalog: the README, the UI and the
// presets name them.
var requiredServices = []string{
	"youtube", "tiktok", "instagram", "facebook", "snapchat", "discord", "whatsapp", "telegram", "reddit",
	"x", "twitch", "netflix", "disney-plus", "roblox", "fortnite", "minecraft", "steam", "playstation",
	"xbox", "nintendo", "chatgpt", "character-ai", "gemini",
}

func mustDefault(t *testing.T) *Catalog {
	t.Helper()
	c, err := Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	return c
}

// sourceHosts are where default sources may come from: the raw files of a
// list's GitHub repository, or malware-filter's own pages (its URLhaus and
// phishing lists are built there twice a day; the GitHub repository holds
// only the scripts).
var sourceHosts = []string{"https://raw.githubusercontent.com/", "https://malware-filter.gitlab.io/malware-filter/"}

func TestDefault(t *testing.T) {
	c := mustDefault(t)

	var cats []string
	for _, cat := range c.Categories {
		cats = append(cats, cat.ID)
	}
	if !slices.Equal(cats, taxonomy) {
		t.Errorf("categories = %v, want the DESIGN taxonomy %v", cats, taxonomy)
	}
	if len(c.Services) < 40 {
		t.Errorf("%d services, want at least 40", len(c.Services))
	}
	for _, id := range requiredServices {
		if kind, ok := c.Tag(id); !ok || kind != KindService {
			t.Errorf("Tag(%q) = %q, %v; want a service", id, kind, ok)
		}
	}
	var presets []string
	for _, p := range c.Presets {
		presets = append(presets, p.ID)
	}
	if want := []string{"kid", "tween", "teen", "adult"}; !slices.Equal(presets, want) {
		t.Errorf("presets = %v, want %v", presets, want)
	}

	tags := c.Tags()
	if len(tags) != len(c.Categories)+len(c.Services) {
		t.Errorf("Tags() has %d entries, want %d", len(tags), len(c.Categories)+len(c.Services))
	}
	seen := map[string]bool{}
	for _, tag := range tags {
		if seen[tag] {
			t.Errorf("tag %q appears twice in Tags()", tag)
		}
		seen[tag] = true
	}

	for _, cat := range c.Categories {
		if cat.Name == "" || cat.Description == "" {
			t.Errorf("category %q: empty name or description", cat.ID)
		}
		if len(cat.Sources) == 0 && cat.ID != "newly-registered" {
			t.Errorf("category %q has no default source", cat.ID)
		}
		for _, s := range cat.Sources {
			if err := s.List().Validate(); err != nil {
				t.Errorf("category %q: %v", cat.ID, err)
			}
			if !slices.ContainsFunc(sourceHosts, func(p string) bool { return strings.HasPrefix(s.URL, p) }) {
				t.Errorf("source %q: url %q: want one of the publishers' own addresses %q", s.ID, s.URL, sourceHosts)
			}
		}
	}
	if cat, _ := c.Category("newly-registered"); !strings.Contains(cat.Description, "no default list") {
		t.Errorf("newly-registered description %q should say there is no default list", cat.Description)
	}
	for _, s := range c.Services {
		if s.Name == "" || len(s.Domains) == 0 {
			t.Errorf("service %q: empty name or no domains", s.ID)
		}
	}
}

func TestTagAndLookups(t *testing.T) {
	c := mustDefault(t)
	tests := []struct {
		id       string
		wantKind string
		wantOK   bool
	}{
		{"adult", KindCategory, true},
		{"ai-chat", KindCategory, true},
		{"newly-registered", KindCategory, true},
		{"youtube", KindService, true},
		{"x", KindService, true},
		{"kid", "", false}, // a preset, not a tag
		{"YouTube", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		kind, ok := c.Tag(tt.id)
		if kind != tt.wantKind || ok != tt.wantOK {
			t.Errorf("Tag(%q) = %q, %v; want %q, %v", tt.id, kind, ok, tt.wantKind, tt.wantOK)
		}
	}
	if s, ok := c.Service("youtube"); !ok || s.Category != "video" || !slices.Contains(s.Domains, "youtu.be") {
		t.Errorf("Service(youtube) = %+v, %v", s, ok)
	}
	if _, ok := c.Preset("teen"); !ok {
		t.Error("Preset(teen) not found")
	}
	if _, ok := c.Preset("adult-content"); ok {
		t.Error("Preset(adult-content) found")
	}
}

func TestPresets(t *testing.T) {
	c := mustDefault(t)
	always := []string{"malware", "phishing", "scam"}
	tests := []struct {
		id           string
		block        []string
		allow        []string
		safeSearch   bool
		youTube      string
		bypassProtec bool
	}{
		{"kid", []string{"adult", "gambling", "dating", "social", "chat", "drugs", "violence", "piracy", "bypass", "ai-chat"},
			[]string{"games", "video", "ads"}, true, YouTubeStrict, true},
		{"tween", []string{"adult", "gambling", "dating", "social", "drugs", "violence", "bypass", "ome-tv", "character-ai"},
			[]string{"chat", "games", "video"}, true, YouTubeStrict, true},
		{"teen", []string{"adult", "gambling", "dating", "drugs", "bypass", "ome-tv", "chatroulette"},
			[]string{"social", "chat", "games", "video", "ai-chat"}, true, YouTubeModerate, true},
		{"adult", nil, []string{"adult", "gambling", "social", "bypass", "dating"}, false, YouTubeOff, false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			p, ok := c.Preset(tt.id)
			if !ok {
				t.Fatalf("preset %q missing", tt.id)
			}
			for _, tag := range append(slices.Clone(always), tt.block...) {
				if !slices.Contains(p.Block, tag) {
					t.Errorf("does not block %q", tag)
				}
			}
			for _, tag := range tt.allow {
				if slices.Contains(p.Block, tag) {
					t.Errorf("blocks %q", tag)
				}
			}
			if p.SafeSearch != tt.safeSearch || p.YouTube != tt.youTube || p.BypassProtection != tt.bypassProtec {
				t.Errorf("safe_search %v, youtube %q, bypass_protection %v; want %v, %q, %v",
					p.SafeSearch, p.YouTube, p.BypassProtection, tt.safeSearch, tt.youTube, tt.bypassProtec)
			}
			if p.Description == "" {
				t.Error("no description")
			}
		})
	}
}

var checkedLine = regexp.MustCompile(`^# checked: (\d{4}-\d{2}-\d{2})$`)

// header returns the comment lines before the first entry of a domain file.
func header(t *testing.T, name string) []string {
	t.Helper()
	data, err := fs.ReadFile(blocklists.FS, name)
	if err != nil {
		t.Fatal(err)
	}
	var h []string
	for _, line := range strings.Split(string(data), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			break
		}
		h = append(h, line)
	}
	return h
}

// checkHeader asserts a domain file's header names its category and the
// date it was last checked.
func checkHeader(t *testing.T, name, category string) {
	t.Helper()
	h := header(t, name)
	if !slices.Contains(h, "# category: "+category) {
		t.Errorf("%s: header lacks %q", name, "# category: "+category)
	}
	found := false
	for _, line := range h {
		if m := checkedLine.FindStringSubmatch(line); m != nil {
			found = true
			if _, err := time.Parse(time.DateOnly, m[1]); err != nil {
				t.Errorf("%s: checked date: %v", name, err)
			}
		}
	}
	if !found {
		t.Errorf("%s: header lacks a %q line", name, "# checked: YYYY-MM-DD")
	}
}

func TestDomainFileHeaders(t *testing.T) {
	c := mustDefault(t)
	for _, s := range c.Services {
		name := "services/" + s.ID + ".txt"
		checkHeader(t, name, s.Category)
		if h := header(t, name); len(h) == 0 || !strings.Contains(h[0], `(service "`+s.ID+`")`) {
			t.Errorf("%s: first line should name the service: %q", name, h)
		}
	}
	checkHeader(t, "bypass.txt", "bypass")

	// Every file in services/ belongs to a service: an orphan would be
	// curated data that silently never loads.
	entries, err := fs.ReadDir(blocklists.FS, "services")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".txt")
		if _, found := c.Service(id); !ok || !found {
			t.Errorf("services/%s is not the file of any service", e.Name())
		}
	}
}

// sharedInfra are domains shared by many unrelated sites: listing one of them
// under a service would block far more than the service.
var sharedInfra = []string{
	"googleapis.com", "akamaized.net", "cloudfront.net", "amazonaws.com", "akamaihd.net", "azureedge.net",
	"fastly.net", "cloudflare.com", "gstatic.com", "google.com", "googleusercontent.com", "ggpht.com",
	"appspot.com", "l.google.com", "akamai.net", "edgekey.net", "edgesuite.net", "azurewebsites.net",
	"windows.net", "microsoft.com", "apple.com", "icloud.com", "amazon.com", "media-amazon.com",
	"live-video.net", "github.io", "githubusercontent.com", "herokuapp.com", "firebaseio.com",
	"playfabapi.com", "easyanticheat.net", "googlesyndication.com", "doubleclick.net",
}

// publicSuffixes are registry suffixes a careless entry could name.
var publicSuffixes = []string{
	"co.uk", "org.uk", "com.au", "net.au", "co.jp", "co.nz", "co.za", "com.br", "com.mx", "co.in",
	"com.cn", "com.tr", "co.kr", "com.tw", "com.hk", "com.sg", "co.il", "com.ar", "in-addr.arpa", "ip6.arpa",
}

func TestNoSharedInfrastructure(t *testing.T) {
	c := mustDefault(t)
	check := func(where, d string) {
		if slices.Contains(sharedInfra, d) {
			t.Errorf("%s lists %q, shared infrastructure", where, d)
		}
		if slices.Contains(publicSuffixes, d) {
			t.Errorf("%s lists %q, a public suffix", where, d)
		}
		if !strings.Contains(d, ".") {
			t.Errorf("%s lists %q, a single label", where, d)
		}
	}
	for _, s := range c.Services {
		for _, d := range s.Domains {
			check("service "+s.ID, d)
		}
	}
	for _, d := range c.Bypass.Domains {
		check("bypass.txt", d)
	}
}

// parentIn returns the entry of set that strictly contains name, if any.
func parentIn(set map[string]bool, name string) (string, bool) {
	for i := strings.IndexByte(name, '.'); i >= 0; i = strings.IndexByte(name, '.') {
		name = name[i+1:]
		if set[name] {
			return name, true
		}
	}
	return "", false
}

func TestNoRedundantOrDuplicateEntries(t *testing.T) {
	c := mustDefault(t)
	check := func(where string, domains []string) {
		set := map[string]bool{}
		for _, d := range domains {
			set[d] = true
		}
		for _, d := range domains {
			if p, ok := parentIn(set, d); ok {
				t.Errorf("%s: %q is already covered by %q", where, d, p)
			}
		}
	}
	owner := map[string]string{}
	for _, s := range c.Services {
		check("service "+s.ID, s.Domains)
		for _, d := range s.Domains {
			// An exact name in two services is a shared name: list it once
			// and note the overlap in both files (see blocklists/README.md).
			if prev, dup := owner[d]; dup {
				t.Errorf("%q is listed by both %s and %s", d, prev, s.ID)
			}
			owner[d] = s.ID
		}
	}
	check("bypass.txt", c.Bypass.Domains)
	for _, d := range c.Bypass.Domains {
		if s, dup := owner[d]; dup {
			t.Errorf("bypass.txt lists %q, also in service %s", d, s)
		}
	}
}

func TestBypass(t *testing.T) {
	c := mustDefault(t)
	b := c.Bypass
	if len(b.Domains) < 40 {
		t.Errorf("bypass.txt has %d names, want at least 40", len(b.Domains))
	}
	for _, want := range []string{"dns.google", "cloudflare-dns.com", "one.one.one.one", "dns.quad9.net",
		"doh.opendns.com", "dns.nextdns.io", "adguard-dns.com", "doh.cleanbrowsing.org", "torproject.org"} {
		if !slices.Contains(b.Domains, want) {
			t.Errorf("bypass.txt lacks %q", want)
		}
	}
	if want := []string{"use-application-dns.net"}; !slices.Equal(b.Canary, want) {
		t.Errorf("canary = %v, want %v", b.Canary, want)
	}
	if want := []string{"mask.icloud.com", "mask-h2.icloud.com"}; !slices.Equal(b.PrivateRelay, want) {
		t.Errorf("private_relay = %v, want %v", b.PrivateRelay, want)
	}
	if want := []string{"_dns.resolver.arpa"}; !slices.Equal(b.DDR, want) {
		t.Errorf("ddr = %v, want %v", b.DDR, want)
	}
	// The NXDOMAIN names are also blocked by the bypass tag on its own.
	for _, n := range append(slices.Clone(b.Canary), b.PrivateRelay...) {
		if !slices.Contains(b.Domains, n) {
			t.Errorf("bypass.txt lacks %q", n)
		}
	}
}

func TestSafeSearchTable(t *testing.T) {
	c := mustDefault(t)
	rule := func(engine, level string) SafeSearchRule {
		t.Helper()
		for _, r := range c.SafeSearch {
			if r.Engine == engine && r.Level == level {
				return r
			}
		}
		t.Errorf("no %s/%s rule", engine, level)
		return SafeSearchRule{}
	}
	addrs := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	tests := []struct {
		engine, level string
		minNames      int
		has           []string
		cname         string
		a             []netip.Addr
	}{
		{"google", "strict", 150, []string{"www.google.com", "google.com", "www.google.co.uk", "www.google.de", "www.google.com.br", "www.google.co.jp"},
			"forcesafesearch.google.com", addrs("216.239.38.120")},
		{"youtube", "strict", 5, []string{"www.youtube.com", "m.youtube.com", "youtubei.googleapis.com", "youtube.googleapis.com", "www.youtube-nocookie.com"},
			"restrict.youtube.com", addrs("216.239.38.120")},
		{"youtube", "moderate", 5, []string{"www.youtube.com", "m.youtube.com", "youtubei.googleapis.com", "youtube.googleapis.com", "www.youtube-nocookie.com"},
			"restrictmoderate.youtube.com", addrs("216.239.38.119")},
		{"bing", "strict", 1, []string{"www.bing.com"}, "strict.bing.com", addrs("204.79.197.220")},
		{"duckduckgo", "strict", 3, []string{"duckduckgo.com", "www.duckduckgo.com", "start.duckduckgo.com"}, "safe.duckduckgo.com", nil},
		{"ecosia", "strict", 1, []string{"www.ecosia.org"}, "strict-safe-search.ecosia.org", nil},
		{"yandex", "strict", 10, []string{"yandex.ru", "www.yandex.ru", "yandex.com", "ya.ru"}, "", addrs("213.180.193.56")},
		{"pixabay", "strict", 1, []string{"pixabay.com"}, "safesearch.pixabay.com", nil},
	}
	for _, tt := range tests {
		r := rule(tt.engine, tt.level)
		if len(r.Names) < tt.minNames {
			t.Errorf("%s/%s: %d names, want at least %d", tt.engine, tt.level, len(r.Names), tt.minNames)
		}
		for _, n := range tt.has {
			if !slices.Contains(r.Names, n) {
				t.Errorf("%s/%s: lacks %q", tt.engine, tt.level, n)
			}
		}
		if r.CNAME != tt.cname || !slices.Equal(r.A, tt.a) {
			t.Errorf("%s/%s: cname %q, a %v; want %q, %v", tt.engine, tt.level, r.CNAME, r.A, tt.cname, tt.a)
		}
	}
	if s, m := rule("youtube", "strict"), rule("youtube", "moderate"); !slices.Equal(s.Names, m.Names) {
		t.Errorf("youtube strict and moderate rewrite different names: %v and %v", s.Names, m.Names)
	}
	// Every Google name with www has its bare twin and the reverse.
	g := rule("google", "strict")
	for _, n := range g.Names {
		twin, ok := strings.CutPrefix(n, "www.")
		if !ok {
			twin = "www." + n
		}
		if !slices.Contains(g.Names, twin) {
			t.Errorf("google: %q without %q", n, twin)
		}
	}
}
