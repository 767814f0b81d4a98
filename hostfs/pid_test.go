package hostfs

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// statLine builds a /proc/<pid>/stat line with the given comm and starttime.
func statLine(comm string, start uint64) string {
	// fields 3..21, then 22 = starttime, then the rest
	return fmt.Sprintf("42 (%s) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 %d 2400000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n", comm, start)
}

func TestParseStatStartTicks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr error
	}{
		{name: "plain", in: statLine("bash", 1234), want: 1234},
		{name: "comm with \") (\" inside", in: statLine("a) (b c) S 7 7", 99), want: 99},
		{name: "comm with newline", in: statLine("x\ny", 5), want: 5},
		{name: "empty comm", in: statLine("", 77), want: 77},
		{name: "no trailing newline", in: strings.TrimSuffix(statLine("sh", 8), "\n"), want: 8},
		{name: "large", in: statLine("sh", 18446744073709551615), want: 18446744073709551615},
		{name: "real line", in: "1 (systemd) S 0 1 1 0 -1 4194560 58823 11226449 112 3211 117 291 33283 6770 20 0 1 0 11 23150592 3165 18446744073709551615 1 1 0 0 0 0 671173123 4096 1260 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n", want: 11},
		{name: "empty", in: "", wantErr: ErrParse},
		{name: "no paren", in: "42 bash S 1 2 3\n", wantErr: ErrParse},
		{name: "too short", in: "42 (bash) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0\n", wantErr: ErrParse},
		{name: "garbage starttime", in: strings.Replace(statLine("sh", 1), " 1 2400000", " x 2400000", 1), wantErr: ErrParse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStatStartTicks([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestParseStatusField(t *testing.T) {
	t.Parallel()
	status := "Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t30565\nNgid:\t0\nPid:\t30566\nPPid:\t1\nNSpid:\t30566\t2\nNSpgid:\t30565\t1\n"
	tests := []struct {
		key    string
		want   string
		wantOK bool
	}{
		{"Tgid", "30565", true},
		{"Pid", "30566", true},
		{"PPid", "1", true},
		{"NSpid", "30566\t2", true},
		{"NSpgid", "30565\t1", true},
		{"State", "S (sleeping)", true},
		{"Name", "sleep", true},
		{"NS", "", false},    // prefix of NSpid, not a key
		{"pid", "", false},   // case matters
		{"Tgid:", "", false}, // the colon is not part of the key
		{"Seccomp", "", false},
	}
	for _, tt := range tests {
		got, ok := ParseStatusField([]byte(status), tt.key)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseStatusField(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.wantOK)
		}
	}
	if got, ok := ParseStatusField([]byte("Tgid:\t7"), "Tgid"); got != "7" || !ok {
		t.Errorf("without trailing newline: %q, %v", got, ok)
	}
	if _, ok := ParseStatusField(nil, "Tgid"); ok {
		t.Error("found a key in empty input")
	}
}
