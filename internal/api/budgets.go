package api

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxExtraMinutes is the most extra time one grant gives.
const maxExtraMinutes = 240

// DeviceBudget is one time budget of a device today: a category or a
// service, the minutes allowed, used and left.
type DeviceBudget struct {
	// Budget is the category or service id ("games").
	Budget string `json:"budget"`
	// Limit is today's allowance in minutes, Extra included: the part
	// extra-time grants add.
	Limit int `json:"limit"`
	Extra int `json:"extra"`
	// Used and Left are active minutes counted today, and what remains.
	Used int `json:"used"`
	Left int `json:"left"`
	// Spent is true once the budget is used up: the category or service
	// is blocked ("time budget used") until ResetsAt.
	Spent    bool      `json:"spent"`
	ResetsAt time.Time `json:"resets_at"`
	// Text says it for people: "games: 45 of 60 min used, 15 min left".
	Text string `json:"text"`
}

// deviceBudgets asks the running policy and the usage tracker for the
// device's budgets and words them.
func (a *API) deviceBudgets(device string, loc *time.Location) []DeviceBudget {
	bs := a.c.Backend.DeviceBudgets(device, a.c.Now())
	for i := range bs {
		bs[i].Text = budgetText(bs[i], loc)
	}
	if bs == nil {
		bs = []DeviceBudget{}
	}
	return bs
}

// budgetText words b, with its reset in loc when it is used up.
func budgetText(b DeviceBudget, loc *time.Location) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s: %d of %d min used", b.Budget, b.Used, b.Limit)
	if b.Extra > 0 {
		fmt.Fprintf(&sb, " (%d extra)", b.Extra)
	}
	if b.Spent {
		fmt.Fprintf(&sb, ", time budget used until %s", b.ResetsAt.In(loc).Format("15:04"))
	} else {
		fmt.Fprintf(&sb, ", %d min left", b.Left)
	}
	return sb.String()
}

// extraTime checks an extra-time grant request: the device must have a
// budget for the target today, and the minutes must be 1 to
// maxExtraMinutes. It returns that budget.
func (a *API) extraTime(req grantRequest) (DeviceBudget, error) {
	if !req.Until.IsZero() {
		return DeviceBudget{}, errors.New("until: extra time lasts until the budget resets; give minutes only")
	}
	if req.Minutes < 1 || req.Minutes > maxExtraMinutes {
		return DeviceBudget{}, fmt.Errorf("minutes: %d is not 1 to %d", req.Minutes, maxExtraMinutes)
	}
	t := strings.ToLower(strings.TrimSpace(req.Target))
	var ids []string
	for _, b := range a.c.Backend.DeviceBudgets(req.Device, a.c.Now()) {
		if b.Budget == t {
			return b, nil
		}
		ids = append(ids, b.Budget)
	}
	if len(ids) == 0 {
		return DeviceBudget{}, fmt.Errorf("target: device %q has no time budget today", req.Device)
	}
	return DeviceBudget{}, fmt.Errorf("target: %q is not a time budget of device %q today (%s)", req.Target, req.Device, strings.Join(ids, ", "))
}
