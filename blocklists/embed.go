// Package blocklists holds Hearth's own curated data, embedded in the binary
// so that a resolver with no internet access still knows its taxonomy and
// blocks the named services: catalog.yaml (categories and their default
// sources, services, presets, bypass names), services/*.txt (one domain list
// per service), bypass.txt (public DNS resolvers, Tor and VPN basics) and
// safesearch.yaml (the safe-search rewrite table).
//
// Everything here is written by the Hearth authors. Third-party lists are only
// referenced by URL in catalog.yaml and fetched at run time by internal/lists;
// they are never embedded. internal/catalog parses and validates this data.
package blocklists

import "embed"

// FS is the embedded data, rooted at this folder: catalog.yaml,
// safesearch.yaml, bypass.txt and services/<id>.txt. An embed.FS is read-only,
// so sharing it is safe.
//
//go:embed catalog.yaml safesearch.yaml bypass.txt services
var FS embed.FS
