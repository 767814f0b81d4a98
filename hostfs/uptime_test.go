package hostfs

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseUptime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    Uptime
		wantErr error
	}{
		{name: "real", in: "350735.47 234388.90\n", want: Uptime{Seconds: 350735.47, IdleSeconds: 234388.90}},
		{name: "no newline", in: "12.5 3.25", want: Uptime{Seconds: 12.5, IdleSeconds: 3.25}},
		{name: "no idle", in: "7.01\n", want: Uptime{Seconds: 7.01}},
		{name: "only the first line counts", in: "1.00 2.00\ngarbage\n", want: Uptime{Seconds: 1, IdleSeconds: 2}},
		{name: "empty", in: "", wantErr: ErrParse},
		{name: "blank", in: " \n", wantErr: ErrParse},
		{name: "three fields", in: "1 2 3\n", wantErr: ErrParse},
		{name: "not a number", in: "up 2\n", wantErr: ErrParse},
		{name: "bad idle", in: "1 x\n", wantErr: ErrParse},
		{name: "negative", in: "-1 2\n", wantErr: ErrParse},
		{name: "NaN", in: "NaN 2\n", wantErr: ErrParse},
		{name: "infinite", in: "+Inf 2\n", wantErr: ErrParse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUptime([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("uptime (-want +got):\n%s", diff)
			}
		})
	}
}
