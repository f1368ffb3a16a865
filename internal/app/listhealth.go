package app

import (
	"time"

	"github.com/hearth-dns/hearth/internal/api"
	"github.com/hearth-dns/hearth/internal/lists"
)

// sourcesReport is every list's compiled and live download state, the
// progress of the downloads, and the blocked categories without data:
// what the wizard and the dashboard show so that lists never fail
// silently (issue 9, section 7).
func (a *App) sourcesReport(b *built) api.SourcesReport {
	snap := b.live.Load()
	compiled := snap.Lists
	now := a.now()
	health := b.lists.Health(now)
	byID := make(map[string]lists.Health, len(health))
	for _, h := range health {
		byID[h.ID] = h
	}
	rep := api.SourcesReport{Sources: []api.Source{}, EmptyCategories: []api.EmptyCategory{}}
	withData := map[string]bool{}
	for _, l := range compiled.Lists {
		h := byID[l.ID]
		s := api.Source{ID: l.ID, Tag: l.Tag, URL: h.URL, File: l.Path, Loaded: l.Loaded, Names: l.Stats.Rules + l.Stats.IPs,
			BadLines: l.Stats.Bad, Error: l.Err, State: string(h.State), Failures: h.Failures, Downloading: h.Downloading}
		if h.URL != "" {
			s.Error = h.Err // live: the compile may predate the last attempt
			s.FetchedAt, s.StaleSince, s.NextAttempt = timePtr(h.FetchedAt), timePtr(h.StaleSince), timePtr(h.NextAttempt)
		}
		if l.Loaded && s.Names > 0 {
			withData[l.Tag] = true
		}
		rep.Sources = append(rep.Sources, s)
	}
	p := b.lists.Progress()
	rep.Progress = api.DownloadProgress{Total: p.Total, Done: p.Done, Failed: p.Failed, Running: p.Running}

	for _, c := range a.cat.Categories {
		if withData[c.ID] {
			continue
		}
		profiles := snap.BlockingProfiles(c.ID)
		if len(profiles) == 0 {
			continue
		}
		rep.EmptyCategories = append(rep.EmptyCategories, api.EmptyCategory{
			ID: c.ID, Name: c.Name, Profiles: profiles, Reason: emptyReason(health, c.ID),
		})
	}
	return rep
}

// emptyReason says why a category has no data, from its lists' health.
func emptyReason(health []lists.Health, tag string) string {
	var n, pending, failed int
	firstErr := ""
	for _, h := range health {
		if h.Tag != tag {
			continue
		}
		n++
		switch h.State {
		case lists.StatePending:
			pending++
		case lists.StateFailed:
			failed++
			if firstErr == "" {
				firstErr = h.Err
			}
		}
	}
	switch {
	case n == 0:
		return "no list is configured for this category: add a source, or turn on lists.defaults"
	case failed > 0:
		return "its lists could not be downloaded (" + firstErr + "); Hearth keeps retrying"
	case pending > 0:
		return "its lists are still downloading"
	default:
		return "its lists are empty or unreadable"
	}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
