package catalog

import (
	"slices"
	"strings"
	"testing"
)

// TestServiceCoverage (#11): the services parents named as missed are
// covered, each by its own service; huggingface.co is no AI chat.
func TestServiceCoverage(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	serviceOf := func(name string) string {
		for _, s := range c.Services {
			for _, d := range s.Domains {
				if name == d || strings.HasSuffix(name, "."+d) {
					return s.ID
				}
			}
		}
		return ""
	}
	tests := []struct{ name, want string }{
		{"badoo.com", "badoo"},
		{"us1.badoocdn.com", "badoo"},
		{"www.tagged.com", "tagged"},
		{"tindersparks.com", "tinder"},
		{"pinterest.cl", "pinterest"},
		{"www.pinterest.co.kr", "pinterest"},
		{"twitterstat.us", "x"},
		{"tweetdeck.com", "x"},
		{"discordcdn.com", "discord"},
		{"lin.ee", "line"},
		{"sc-prod.net", "snapchat"},
		{"tiktokv.eu", "tiktok"},
		{"ttlivecdn.com", "tiktok"},
		{"apis.rbxinfra.com", "roblox"},
		{"steamcdn-a.akamaihd.net", "steam"},
		{"vk.com", "vk"},
		{"sun9-1.userapi.com", "vk"},
		{"ok.ru", "ok-ru"},
		{"e.mail.ru", "mail-ru"},
		{"media.licdn.com", "linkedin"},
		{"boards.4chan.org", "4chan"},
		{"wizzapp.com", "wizz"},
		{"huggingface.co", ""},
		// Names seen in the Umbrella top-10k that the services missed.
		{"fb.watch", "facebook"},
		{"chat.hingeprod.net", "hinge"},
		{"media.hingenexus.com", "hinge"},
		{"grindr.mobi", "grindr"},
		{"tiktoklinksafety.com", "tiktok"},
		{"v16m.tiktokcdn-us.com.akamaized.net", "tiktok"},
		{"pinterest.map.fastly.net", "pinterest"},
		{"linkedin.map.fastly.net", "linkedin"},
		{"matrix.redditspace.com", "reddit"},
		{"sun1-1.vkuserphoto.ru", "vk"},
		{"epicgamescdn.com", "epic-games"},
		{"steamconnecttest.com", "steam"},
		{"squadbustersgame.com", "supercell"},
		{"h2-img.twitch.map.fastly.net", "twitch"},
		// Shared infrastructure stays out of every service.
		{"akamaihd.net", ""},
		{"akamaized.net", ""},
		{"map.fastly.net", ""},
		{"storage.googleapis.com", ""},
	}
	for _, tc := range tests {
		if got := serviceOf(tc.name); got != tc.want {
			t.Errorf("%s: service %q, want %q", tc.name, got, tc.want)
		}
	}
	ai, _ := c.Category("ai-chat")
	if !slices.Contains(ai.Exclude, "huggingface.co") {
		t.Errorf("ai-chat excludes %q, want huggingface.co among them", ai.Exclude)
	}
	for _, id := range []string{"tween", "teen"} {
		if p, _ := c.Preset(id); !slices.Contains(p.Block, "wizz") {
			t.Errorf("preset %s does not block wizz", id)
		}
	}
}
