package app

import (
	"context"
	"fmt"

	"github.com/hearth-dns/hearth/internal/config"
	"github.com/hearth-dns/hearth/internal/radius"
)

// startRadius starts the RADIUS accounting listener of radius.listen, if
// any. It needs the store, which it writes bindings to: without one (read
// only, or unavailable) it logs why and stays off, and subscribers keep
// the bindings the policy already has. The section is read at start only:
// changing it needs a restart.
func (a *App) startRadius() error {
	cfg := a.cfg
	if cfg.Radius.Listen == "" {
		return nil
	}
	if a.store == nil {
		a.log.Error("the RADIUS listener is off: it needs the store, which is unavailable or read-only", "listen", cfg.Radius.Listen)
		return nil
	}
	rc, err := radiusConfig(cfg)
	if err != nil {
		return err
	}
	rc.Store, rc.Metrics, rc.Logger = a.store, a.metrics, a.log.With("listener", "radius")
	s, err := radius.New(rc)
	if err != nil {
		return cfg.Errorf("radius", "%v", err)
	}
	if err := s.Start(); err != nil {
		return cfg.Errorf("radius.listen", "%v", err)
	}
	a.radius = s
	a.log.Info("RADIUS accounting listener started", "addr", s.Addr(), "nas_networks", len(rc.Clients))
	return nil
}

// radiusConfig reads the radius section, secret files included. Errors
// name the field and never quote a secret.
func radiusConfig(cfg *config.Config) (radius.Config, error) {
	rc := radius.Config{Listen: cfg.Radius.Listen, SubscriberAttribute: cfg.Radius.SubscriberAttribute}
	if _, err := radius.ParseAttribute(rc.SubscriberAttribute); rc.SubscriberAttribute != "" && err != nil {
		return rc, cfg.Errorf("radius.subscriber_attribute", "%v", err)
	}
	for i, cl := range cfg.Radius.Clients {
		path := fmt.Sprintf("radius.clients[%d]", i)
		p, err := config.ParsePrefix(cl.Network)
		if err != nil {
			return rc, cfg.Errorf(path+".network", "%v", err)
		}
		secret, err := cfg.RadiusSecret(i)
		if err != nil {
			return rc, cfg.Errorf(path+".secret_file", "%v", err)
		}
		rc.Clients = append(rc.Clients, radius.Client{Network: p, Secret: secret})
	}
	return rc, nil
}

// RadiusAddr returns the bound address of the RADIUS listener, or "".
func (a *App) RadiusAddr() string {
	if a.radius == nil {
		return ""
	}
	return a.radius.Addr()
}

// stopRadius stops the RADIUS listener, if running.
func (a *App) stopRadius(ctx context.Context) error {
	if a.radius == nil {
		return nil
	}
	return a.radius.Shutdown(ctx)
}
