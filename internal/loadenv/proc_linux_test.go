//go:build linux

package loadenv

import (
	"os"
	"testing"
)

func TestProcFigures(t *testing.T) {
	t.Parallel()
	pid := os.Getpid()
	if rss, err := RSSKiB(pid); err != nil || rss <= 0 {
		t.Errorf("RSSKiB(self) = %d, %v", rss, err)
	}
	if n, err := FDCount(pid); err != nil || n < 3 {
		t.Errorf("FDCount(self) = %d, %v", n, err)
	}
	if ticks, err := CPUTicks(0); err != nil || ticks < 0 {
		t.Errorf("CPUTicks(self) = %d, %v", ticks, err)
	}
	if _, err := RSSKiB(-1); err == nil {
		t.Error("RSSKiB(-1): want an error")
	}
	if hz := ClockTicks(); hz <= 0 {
		t.Errorf("ClockTicks() = %d", hz)
	}
}

func TestParseStatTicks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		stat    string
		want    int64
		wantErr bool
	}{
		// utime 7 and stime 5 are fields 14 and 15.
		{name: "plain", stat: "42 (gateway) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 9 0 1 2 3", want: 12},
		{name: "spaces_and_parens_in_name", stat: "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 9 0 1 2 3", want: 12},
		{name: "no_paren", stat: "42 gateway S 1", wantErr: true},
		{name: "truncated", stat: "42 (gateway) S 1 42", wantErr: true},
		{name: "not_numbers", stat: "42 (gateway) S 1 42 42 0 -1 4194560 100 0 0 0 x y 0 0", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStatTicks("stat", []byte(tc.stat))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseStatTicks(%q) = %d, %v; want %d, error %v", tc.stat, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
