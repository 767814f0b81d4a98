package hostfs

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCutLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "empty", in: "", want: nil},
		{name: "one line", in: "a b\n", want: []string{"a b"}},
		{name: "no final newline", in: "a\nb", want: []string{"a", "b"}},
		{name: "blank lines kept", in: "\na\n\n", want: []string{"", "a", ""}},
		{name: "lone newline", in: "\n", want: []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			b := []byte(tt.in)
			for len(b) > 0 {
				var line []byte
				line, b = CutLine(b)
				got = append(got, string(line))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}
