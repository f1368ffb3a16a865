package pipeline

import (
	"context"
	"slices"
	"testing"
)

// TestBuildOrder checks that Build runs the steps in the documented order
// and skips nil steps.
func TestBuildOrder(t *testing.T) {
	var got []string
	step := func(name string) Middleware {
		return func(next Handler) Handler {
			return HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
				got = append(got, name)
				return next.ServeDNS(ctx, w, r)
			})
		}
	}
	resolve := HandlerFunc(func(ctx context.Context, w ResponseWriter, r *Request) error {
		got = append(got, "resolve")
		return nil
	})
	tests := []struct {
		name  string
		steps Steps
		want  []string
	}{
		{"all", Steps{Access: step("access"), Identify: step("identify"), Observe: step("observe"), Policy: step("policy"), Local: step("local"), Resolve: resolve},
			[]string{"access", "identify", "observe", "policy", "local", "resolve"}},
		{"some nil", Steps{Access: step("access"), Local: step("local"), Resolve: resolve},
			[]string{"access", "local", "resolve"}},
		{"resolve only", Steps{Resolve: resolve}, []string{"resolve"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got = nil
			if err := Build(tc.steps).ServeDNS(context.Background(), nil, &Request{}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("order = %v, want %v", got, tc.want)
			}
		})
	}
}
