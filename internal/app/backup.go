package app

import (
	"fmt"
	"log/slog"

	"github.com/hearth-dns/hearth/internal/api"
	"github.com/hearth-dns/hearth/internal/backup"
	"github.com/hearth-dns/hearth/internal/catalog"
	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/policy/compile"
)

// ImportChecker returns the checks the API applies to its writes, built
// from cfg and the catalog without serving (no lists are read), for
// `hearth admin import`.
func ImportChecker(cfg *config.Config) (backup.Checker, error) {
	cat, err := catalog.Default()
	if err != nil {
		return nil, err
	}
	plan, err := compile.NewPlan(cfg, cat, true)
	if err != nil {
		return nil, fmt.Errorf("checking the config's profiles: %w", err)
	}
	a := &App{log: slog.New(slog.DiscardHandler), cat: cat, readOnly: true}
	a.cur.Store(&built{cfg: cfg, plan: plan})
	return api.NewChecker(backend{a}), nil
}
