package genmap

import (
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestUnusedEntriesGo(t *testing.T) {
	defer func(n uint32) { getCheckEvery = n }(getCheckEvery)
	getCheckEvery = 1
	c := &clock{t: time.Unix(1000, 0)}
	m := New[int, string](time.Minute, 100)
	m.Now = c.now
	m.Put(1, "kept")
	m.Put(2, "dropped")
	for range 5 {
		c.t = c.t.Add(40 * time.Second)
		if v, ok := m.Get(1); !ok || v != "kept" {
			t.Fatalf("entry in use lost: %q %v", v, ok)
		}
		m.Put(3, "churn") // stores rotate
	}
	if _, ok := m.Get(2); ok {
		t.Error("entry unused for 200 s still there")
	}
	if n := m.Len(); n > 2 {
		t.Errorf("%d entries, want at most 2 (1 and 3)", n)
	}
}

func TestBounded(t *testing.T) {
	m := New[int, int](time.Hour, 10)
	for i := range 1000 {
		m.Put(i, i)
		if n := m.Len(); n > 20 {
			t.Fatalf("%d entries after %d puts, bound 2x10", n, i+1)
		}
	}
	if v, ok := m.Get(999); !ok || v != 999 {
		t.Errorf("last put: %v %v", v, ok)
	}
}

func TestUpdateAndDelete(t *testing.T) {
	m := New[string, int](time.Hour, 10)
	inc := func(v int, ok bool) int {
		if !ok {
			return 1
		}
		return v + 1
	}
	m.Update("a", inc)
	m.Update("a", inc)
	if v, _ := m.Get("a"); v != 2 {
		t.Errorf("a = %d, want 2", v)
	}
	m.Delete("a")
	if _, ok := m.Get("a"); ok {
		t.Error("deleted entry found")
	}
}

// After a long idle time both generations are dropped at the next put.
func TestIdleDropsBoth(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	m := New[int, int](time.Second, 100)
	m.Now = c.now
	for i := range 50 {
		m.Put(i, i)
	}
	c.t = c.t.Add(time.Hour)
	m.Put(1000, 0)
	if n := m.Len(); n != 1 {
		t.Errorf("%d entries after an hour idle and one put, want 1", n)
	}
}

// Under steady traffic of gets alone, the clock is looked at often enough
// for unused entries to go.
func TestRotatesUnderGets(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	m := New[int, int](time.Minute, 100)
	m.Now = c.now
	m.Put(1, 1)
	m.Put(2, 2)
	for range 3 {
		c.t = c.t.Add(time.Minute)
		for range 2 * getCheckEvery {
			m.Get(1)
		}
	}
	if _, ok := m.Get(2); ok {
		t.Error("entry unused for three periods of steady gets still there")
	}
}
