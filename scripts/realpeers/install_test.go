package realpeers

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallScript: scripts/install.sh finds netdata's plugins directory in
// each layout (from `netdata -W buildinfo` when it says, else the known
// layouts), installs the binary and the wrapper with alarm-notify.sh's mode,
// and says what it did. Hermetic: every layout is built under a --prefix and
// netdata is a stand-in script.
func TestInstallScript(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(repo, "scripts/install.sh")
	bin := filepath.Join(t.TempDir(), "matrix-notify")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const newBuildinfo = "Netdata Version: v2.2.0\nDefault Directories:\n    Plugins:          /usr/libexec/netdata/plugins.d\nPlugins:\n    apps:  YES\n"
	const oldBuildinfo = "Version: netdata v1.37.1\nConfigure options:  '--prefix=/usr' '--libexecdir=${prefix}/lib' '--libexecdir=/usr/local/lib' '--with-math'\nPlugins:\n    apps:                    YES\n"
	cases := []struct {
		name      string
		buildinfo string   // what the stand-in netdata prints; "" for no netdata
		dirs      []string // plugins.d directories holding alarm-notify.sh
		mode      os.FileMode
		want      string // the directory chosen, "" for an error
	}{
		{"debian", "", []string{"/usr/lib/netdata/plugins.d"}, 0o755, "/usr/lib/netdata/plugins.d"},
		{"rpm", "", []string{"/usr/libexec/netdata/plugins.d"}, 0o750, "/usr/libexec/netdata/plugins.d"},
		{"static", "", []string{"/opt/netdata/usr/libexec/netdata/plugins.d"}, 0o755, "/opt/netdata/usr/libexec/netdata/plugins.d"},
		{"buildinfo 2.x wins over a stale layout", newBuildinfo, []string{"/usr/lib/netdata/plugins.d", "/usr/libexec/netdata/plugins.d"}, 0o755, "/usr/libexec/netdata/plugins.d"},
		{"buildinfo 1.37 configure options", oldBuildinfo, []string{"/usr/local/lib/netdata/plugins.d", "/usr/lib/netdata/plugins.d"}, 0o755, "/usr/local/lib/netdata/plugins.d"},
		{"no netdata", "", nil, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range tc.dirs {
				if err := os.MkdirAll(root+d, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root+d, "alarm-notify.sh"), []byte("#!/bin/bash\n"), tc.mode); err != nil {
					t.Fatal(err)
				}
				os.Chmod(filepath.Join(root+d, "alarm-notify.sh"), tc.mode)
			}
			netdata := filepath.Join(t.TempDir(), "netdata")
			if tc.buildinfo != "" {
				os.WriteFile(netdata, []byte("#!/bin/sh\n[ \"$1 $2\" = '-W buildinfo' ] || exit 1\ncat <<'EOF'\n"+tc.buildinfo+"EOF\n"), 0o755)
			}
			cmd := exec.Command("bash", script, "--prefix", root, "--bin", bin)
			cmd.Env = append(os.Environ(), "NETDATA="+netdata)
			out, err := cmd.CombinedOutput()
			if tc.want == "" {
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
					t.Fatalf("want exit 2, got %v:\n%s", err, out)
				}
				if !strings.Contains(string(out), "--plugins-dir") || !strings.Contains(string(out), "/usr/lib/netdata/plugins.d") {
					t.Errorf("the error should say where it looked and how to name the directory:\n%s", out)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v:\n%s", err, out)
			}
			dir := root + tc.want
			for _, name := range []string{"matrix-notify", "alarm-notify-with-matrix.sh"} {
				st, err := os.Stat(filepath.Join(dir, name))
				if err != nil {
					t.Fatalf("not installed in %s: %v\n%s", tc.want, err, out)
				}
				if st.Mode().Perm() != tc.mode {
					t.Errorf("%s: mode %v, want alarm-notify.sh's %v", name, st.Mode().Perm(), tc.mode)
				}
				if !strings.Contains(string(out), "installed "+filepath.Join(dir, name)) {
					t.Errorf("the script does not say it installed %s:\n%s", name, out)
				}
			}
			if !strings.Contains(string(out), "script to execute on alarm = "+filepath.Join(dir, "matrix-notify")) {
				t.Errorf("the next steps do not name the installed path:\n%s", out)
			}
			matches, _ := filepath.Glob(filepath.Join(root, "*/*/*/*/*.plugin"))
			if len(matches) > 0 {
				t.Errorf("installed as a *.plugin: %v", matches)
			}
		})
	}
}
