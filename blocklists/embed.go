// Package blocklists holds Hearth's own curated data, embedded in the binary
// so that a resolver with no internet access still knows its taxonomy and
// blocks the named services: catalog.yaml (categories and their default
// sources, services, presets, bypass names), services/*.txt (one domain list
// per service), bypass.txt (public DNS resolvers, Tor and VPN basics) and
// safesearch.yaml (the safe-search rewrite table) and curated/<category>.txt
// (our own lists of a category's popular sites that belong to no service).
//
// Everything here is written by the Hearth authors, except seed/: the most
// popular names of the permissively licensed (MIT, Unlicense) default
// sources, so a fresh install without network blocks the most visited sites
// of each category. GPL and share-alike lists are only referenced by URL in
// catalog.yaml and fetched at run time by internal/lists. internal/catalog parses and validates this data.
package blocklists

import "embed"

// FS is the embedded data, rooted at this folder: catalog.yaml,
// safesearch.yaml, bypass.txt, services/<id>.txt, curated/<category>.txt
// and the offline seed,
// seed/<category>.txt.gz (built by scripts/build-seed from permissively
// licensed lists only; seed/SOURCES.md records them). An embed.FS is read-only,
// so sharing it is safe.
//
//go:embed catalog.yaml safesearch.yaml bypass.txt services curated seed
var FS embed.FS
