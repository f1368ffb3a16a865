package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"golang.org/x/text/language"
)

// Translations. The UI's strings are English in the source, and the
// English text is the key: app.js writes t('Log in'), Go code and the
// templates tr("Log in"). static/i18n/<lang>.json maps every key to its
// translation, for every language but English. A key may hold {name}
// placeholders, which the translation keeps (t('{n} devices', {n})).
// TestCatalogComplete fails when a key is missing from a language, left
// untranslated, unused, or when a UI string is written without t(); see
// docs/translations.md.

// languages are the UI's languages; the first is the fallback.
var languages = []language.Tag{language.English, language.German, language.Spanish}

// LangCookie is the cookie the UI's language menu sets: a language code of
// the UI ("de"); absent or unknown means Accept-Language decides.
const LangCookie = "hearth-lang"

// catalog is the parsed message catalogue. It is built once by the
// handlers and never changed.
type catalog struct {
	matcher language.Matcher
	// msgs maps a language code ("de") to its messages, by English key.
	msgs map[string]map[string]string
}

// loadCatalog parses the embedded catalogue.
func loadCatalog() (*catalog, error) {
	c := &catalog{matcher: language.NewMatcher(languages), msgs: map[string]map[string]string{}}
	for _, tag := range languages[1:] {
		code := tag.String()
		b, err := staticFS.ReadFile("static/i18n/" + code + ".json")
		if err != nil {
			return nil, fmt.Errorf("catalogue %s: %w", code, err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("catalogue %s: %w", code, err)
		}
		c.msgs[code] = m
	}
	return c, nil
}

// mustCatalog is loadCatalog for the handlers' constructors: the
// catalogue is embedded at build time, so an error is a build bug (which
// TestCatalogComplete catches first).
func mustCatalog() *catalog {
	c, err := loadCatalog()
	if err != nil {
		panic("web: " + err.Error())
	}
	return c
}

// codes returns the UI's language codes, English first.
func codes() []string {
	out := make([]string, len(languages))
	for i, t := range languages {
		out[i] = t.String()
	}
	return out
}

// lang picks the language of a request: the language menu's cookie when
// it names a UI language, else the best match of Accept-Language, else
// English.
func (c *catalog) lang(r *http.Request, useCookie bool) string {
	if useCookie {
		if ck, err := r.Cookie(LangCookie); err == nil {
			if _, ok := c.msgs[ck.Value]; ok || ck.Value == "en" {
				return ck.Value
			}
		}
	}
	// A header too long to be a browser's is not parsed (the matcher's
	// work grows with it).
	accept := r.Header.Get("Accept-Language")
	if len(accept) > 512 {
		return "en"
	}
	_, i, conf := c.matcher.Match(parseAccept(accept)...)
	if conf == language.No {
		return "en"
	}
	return languages[i].String()
}

// parseAccept parses an Accept-Language header; a malformed one counts as
// absent.
func parseAccept(h string) []language.Tag {
	tags, _, err := language.ParseAcceptLanguage(h)
	if err != nil {
		return nil
	}
	return tags
}

// tr translates key into lang, then fills its {name} placeholders from
// args (name, value pairs). An unknown key or language gives the English.
func (c *catalog) tr(lang, key string, args ...string) string {
	s := key
	if m, ok := c.msgs[lang][key]; ok && m != "" {
		s = m
	}
	for i := 0; i+1 < len(args); i += 2 {
		s = strings.ReplaceAll(s, "{"+args[i]+"}", args[i+1])
	}
	return s
}

// trHTML is tr for HTML: the translation is escaped, then its
// placeholders are filled with args, which are HTML the caller made safe.
func (c *catalog) trHTML(lang, key string, args ...template.HTML) template.HTML {
	s := template.HTMLEscapeString(c.tr(lang, key))
	for i := 0; i+1 < len(args); i += 2 {
		s = strings.ReplaceAll(s, "{"+string(args[i])+"}", string(args[i+1]))
	}
	return template.HTML(s)
}
