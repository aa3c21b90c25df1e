package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"matrix-notify/sender/sendertest"
)

// A [kuma] template comparing status with '1' never matches in Kuma: serve
// warns at startup and doctor lists it, naming the template and the line.
func TestKumaStatusTrapReported(t *testing.T) {
	hs := sendertest.New(sendertest.Options{Joined: []string{"!kuma:hs.test"}})
	defer hs.Close()
	dir := t.TempDir()
	tplFile := filepath.Join(dir, "kuma.html.liquid")
	if err := os.WriteFile(tplFile, []byte("<b>{{ name }}</b>\n{% case status %}{% when 0 %}down{% endcase %}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(serveConfig(hs, "s3cret-value"), "[kuma.routes]",
		"[kuma]\ntemplate = \"{% if status == '1' %}UP{% else %}DOWN{% endif %} {{ name }}\"\nhtml_template_file = \""+tplFile+"\"\n\n[kuma.routes]", 1)
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	p := startServe(t, cfg)
	log := p.stderr.String()
	for _, want := range []string{
		`WARNING: a template compares Kuma's status with a number`, ` template=`, `[kuma] template:1:7: in Kuma status is \"✅ Up\" or \"🔴 Down\", never '1'`, "use heartbeatJSON.status == 1",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("serve's startup log lacks %q:\n%s", want, log)
		}
	}

	env := loginEnv(dir)
	_, stdout, _ := runApp(t, "", env, "doctor", "--config", cfgPath)
	for _, want := range []string{
		"template " + cfgPath + ` [kuma] template:1:7: in Kuma status is`,
		"template " + tplFile + `:2:`,
		"would read as DOWN",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("doctor does not list %q:\n%s", want, stdout)
		}
	}
}
