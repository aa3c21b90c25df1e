package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckTemplate(t *testing.T) {
	tests := []struct {
		name, source, template string
		wantCode               int
		wantOut                []string
	}{
		{"french tutorial: the status trap", "kuma",
			"{% if status == '1' %}✅ SERVICE EN LIGNE{% else %}🚨 ALERTE{% endif %}\n🖥️ Service : {{ name }}\n", 0,
			[]string{":1:", "warning", "heartbeatJSON.status == 1"}},
		{"clean kuma template", "kuma", "{{ name }} {% if heartbeatJSON.status == 1 %}up{% endif %} {{ msg | upcase }}", 0,
			[]string{": ok"}},
		{"parse error with line and column", "kuma", "{{ name }}\n\n  {% if status %}never closed", 1,
			[]string{":3:3: error:"}},
		{"output not closed, as LiquidJS says it", "kuma", "Hello {{ name }", 1,
			[]string{`t.liquid:1:7: error: output "{{ name }" not closed`}},
		{"column after an emoji counts UTF-16 units", "kuma", "✅ ok\n🔴 {{ name }", 1,
			[]string{`t.liquid:2:4: error: output "{{ name }" not closed`}},
		{"stray end tag", "kuma", "{% if a %}{% endfor %}", 1,
			[]string{`t.liquid:1:11: error: tag "endfor" not found`}},
		{"unknown variable and filter", "kuma", "{{ hostname }} {{ name | shout }}", 0,
			[]string{"warning", "hostname", "shout"}},
		{"netdata variables", "netdata", "{{ host }} {{ status_message }} {{ heartbeatJSON }}", 0,
			[]string{"heartbeatJSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "t.liquid")
			if err := os.WriteFile(path, []byte(tt.template), 0o644); err != nil {
				t.Fatal(err)
			}
			a, stdout, stderr := newGoldenApp("", map[string]string{})
			code := a.run(context.Background(), []string{"check-template", path, "--source", tt.source})
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.wantCode, stdout, stderr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, stdout)
				}
			}
			if tt.source == "netdata" && strings.Contains(stdout.String(), "status_message") {
				t.Errorf("a netdata variable was reported unknown:\n%s", stdout)
			}
		})
	}
}
