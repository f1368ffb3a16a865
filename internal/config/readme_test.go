package config

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestREADMEExamples parses every YAML example in the README, so the
// documentation cannot drift from what Hearth accepts.
func TestREADMEExamples(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := yamlBlock.FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("README has no yaml examples")
	}
	for i, b := range blocks {
		if _, err := Parse("README.md example "+string(rune('1'+i)), b[1]); err != nil {
			t.Errorf("README example %d: %v", i+1, err)
		}
	}
}
